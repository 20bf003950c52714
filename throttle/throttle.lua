-- Switchboard throttle: just-in-time grants from per-number and per-account
-- buckets.
--
-- One script, several operations, chosen by ARGV[1]. doc.go states the
-- semantics, the guarantee and the key layout. All times are integer
-- microseconds of the Redis clock (TIME), except the times in a sliding log,
-- which are milliseconds rounded up. Lua numbers are doubles: every value
-- here stays far below 2^53 (an interval is at most an hour, 3.6e15 µs·ppm).

local PPM = 1000000              -- rate fractions are in parts per million
local FENCE_TTL = 604800000      -- ms: a fence lives 7 days after its last refresh
local FENCE_REFRESH = 3600000000 -- µs: refresh the fence's TTL at most hourly
local SLACK = 1000000            -- µs a bucket key outlives its state
local EXTEND = 10000000          -- µs more for a log list, so its TTL is rarely renewed
local SLIDING = 0                -- Limit.Mode; anything else is a token bucket
local REC = 20                   -- a log record: 13 digits of ms, 7 of count
local RECFMT = '%013d%07d'
local CHUNK = 4                  -- log list records read at a time
local KS, KL, KB = string.byte('s'), string.byte('l'), string.byte('b') -- kinds of state

local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function int(x)
  return string.format('%d', x)
end

-- fraction is the share of the configured rate in force at now, in ppm: what
-- the last cut left (fcut at time cut; fcut 0: never cut) plus a linear
-- recovery to PPM over `recovery` µs.
local function fraction(fcut, cut, now, recovery)
  if fcut == 0 then return PPM end
  local elapsed = now - cut
  if elapsed < 0 then elapsed = 0 end
  if elapsed >= recovery then return PPM end
  local f = fcut + math.floor(elapsed * PPM / recovery)
  if f > PPM then f = PPM end
  return f
end

-- A bucket's state is one short string, so that one MGET reads every bucket
-- of a Take and one SET ... PX writes one back with its TTL:
--
--   s,<fcut>,<cut>,<sum>;<log>                            sliding, log inline
--   l,<fcut>,<cut>,<sum>,<first>,<last>,<lastn>,<expiry>  sliding, log in a list
--   b,<fcut>,<cut>,<tat>,<at>,<base>,<n>                  bucket mode
--   n,<fcut>,<cut>                                        no grant yet, only a cut
--
-- fcut, cut: the rate fraction (ppm) the last cut left and its time (0, 0:
-- never cut). A sliding log is records of REC characters, oldest first, each
-- (time in ms rounded up, segments granted then); sum is their total. A log
-- of a bucket whose N is large (the caller says so by passing a log key) is
-- a Redis list, one record an element, so that a Take reads and writes only
-- its ends: first and last are the ms of its end records, lastn the count of
-- the last, expiry when the list's TTL runs out at the earliest. In bucket
-- mode tat is the theoretical arrival time; at, base, n describe the latest
-- grant (for Return): its time, the tat it started from, its size.

-- header returns a state's kind (a byte, 0 for none), fcut, cut and the
-- position after them.
local function header(v)
  if not v then return 0, 0, 0, 0 end
  local f, c, p = string.match(v, '^%a,(%d+),(%d+)()')
  return string.byte(v), tonumber(f), tonumber(c), p
end

-- span is how long a bucket's past grants keep mattering at fraction f:
-- its window in sliding mode, the time its burst takes to refill in bucket
-- mode. A bucket that lost its state waits that long (the quiet period).
local function span(n, iv, mode, burst, f, margin)
  if mode == SLIDING then return math.ceil(iv * PPM / f) + margin + burst end
  return burst * math.ceil(iv * PPM / (n * f))
end

local function recms(r) return tonumber(string.sub(r, 1, 13)) end
local function recn(r) return tonumber(string.sub(r, 14, 20)) end

-- load reads one bucket (its state v) and works out its room at now.
--
-- Sliding mode: records no longer in the window (now - W, now] are dropped
-- (W is the interval, plus the margin and the bucket's spread, the
-- argument burst is in sliding mode; after a rate cut, N and the interval
-- both shrink with the fraction); the room is N - sum. Rounding times up
-- only makes records count for longer.
--
-- Bucket mode (GCRA): a segment costs T = interval/(N·f) and the bucket
-- holds burst·T: the room is what fits between max(tat, now) and
-- now + burst·T.
--
-- A bucket with no grant recorded since `epoch` (the account's fence: when
-- this Redis began to hold the account's state) has no room until epoch +
-- its span: its grants before a loss of Redis's data are unknown.
local function load(v, key, a, now, margin, recovery, epoch)
  local n, iv, mode = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local kind = v and string.byte(v) or 0
  local fc, cut, s, p
  if kind == KS then
    fc, cut, s, p = string.match(v, '^s,(%d+),(%d+),(%d+);()')
  elseif kind ~= 0 then
    fc, cut, p = string.match(v, '^%a,(%d+),(%d+)()')
  end
  fc, cut = tonumber(fc) or 0, tonumber(cut) or 0
  local b = {key = key, n = n, mode = mode, kind = kind, fc = fc, cut = cut, s = 0, room = 0,
    W = 0, v = '', pos = 1, hold = false, logkey = false, fresh = false}
  local f = PPM
  if fc ~= 0 then f = fraction(fc, cut, now, recovery) end
  if mode == SLIDING then
    -- A cut rate N·f per interval: N' = floor(N·f) segments in any
    -- interval while N·f >= 1, else one segment in any interval/(N·f).
    -- The burst shrinks with the rate, so a number configured above what
    -- its carrier allows comes down to it (stretching the interval alone
    -- would keep bursts of N, which such a carrier refuses whatever the
    -- interval); the window never gets shorter than the interval, so no
    -- window of the configured limit holds more than N.
    local W = iv + margin + tonumber(ARGV[a + 4])
    if f ~= PPM then
      local nn = math.floor(n * f / PPM)
      if nn < 1 then
        nn = 1
        W = math.ceil(iv * PPM / (n * f)) + margin + tonumber(ARGV[a + 4])
      end
      n = nn
      b.n = nn
    end
    local cutoff = now - W
    local li = tonumber(ARGV[a + 7])
    b.W = W
    if li > 0 then b.logkey = KEYS[li] end
    if kind == KS then
      -- inline log: skip the records that left the window
      s = tonumber(s)
      local pos, len = p, #v
      while pos < len and tonumber(string.sub(v, pos, pos + 12)) * 1000 <= cutoff do
        s = s - tonumber(string.sub(v, pos + 13, pos + REC - 1))
        pos = pos + REC
      end
      b.v, b.pos, b.s = v, pos, s
    elseif kind == KL and b.logkey then
      local first, last, lastn, x
      s, first, last, lastn, x = string.match(v, '^,(%d+),(%d+),(%d+),(%d+),(%d+)', p)
      s, first, last = tonumber(s), tonumber(first), tonumber(last)
      b.lastn, b.x = tonumber(lastn), tonumber(x)
      if last * 1000 <= cutoff then
        -- the whole log left the window
        if first > 0 then redis.call('DEL', b.logkey) end
        s, first, last, b.lastn, b.x = 0, 0, 0, 0, 0
      elseif first * 1000 <= cutoff then
        -- drop records from the head of the list, CHUNK at a time
        local off = 0
        while true do
          local chunk = redis.call('LRANGE', b.logkey, off, off + CHUNK - 1)
          local i = 1
          while chunk[i] and recms(chunk[i]) * 1000 <= cutoff do
            s = s - recn(chunk[i])
            i = i + 1
          end
          off = off + i - 1
          if chunk[i] then
            first = recms(chunk[i])
            b.head, b.headi = chunk, i
            break
          end
          if #chunk < CHUNK then
            -- the list ran out: it expired (its records were all past the
            -- interval and the margin) while a rate cut kept the header
            s, first, last, b.lastn, b.x = 0, 0, 0, 0, 0
            break
          end
        end
        redis.call('LTRIM', b.logkey, off, -1)
      end
      b.s, b.first, b.last = s, first, last
    else
      -- No log: new, expired or lost; or a state we cannot use (a log list
      -- whose N was lowered, so its list is not at hand; a state of bucket
      -- mode): then wait until its last grant has left the window.
      local last = 0
      if kind == KL then
        last = tonumber(string.match(v, '^,%d+,%d+,(%d+)', p)) * 1000
      elseif kind == KB then
        last = tonumber(string.match(v, '^,%d+,(%d+)', p))
      end
      if last > cutoff then b.room, b.hold = 0, last + W; return b end
      if now < epoch + W then b.room, b.hold = 0, epoch + W; return b end
      b.fresh = true
      if b.logkey then
        b.kind, b.first, b.last, b.lastn, b.x = KL, 0, 0, 0, 0
      else
        b.kind = KS
      end
    end
    b.room = n - b.s
    if b.room < 0 then b.room = 0 end
  else
    local burst = tonumber(ARGV[a + 4])
    local T = math.ceil(iv * PPM / (n * f))
    b.kind, b.T, b.B = KB, T, burst
    local tat = now
    if kind ~= KB then
      -- no state, or one of sliding mode: wait a refill of the burst after
      -- the fence's creation, or after the last grant it records
      local hold = epoch + burst * T
      local last = 0
      if kind == KS and #v > p then
        last = tonumber(string.sub(v, #v - REC + 1, #v - 7)) * 1000
      elseif kind == KL then
        last = tonumber(string.match(v, '^,%d+,%d+,(%d+)', p)) * 1000
      end
      if last + burst * T > hold then hold = last + burst * T end
      if now < hold then b.base, b.room, b.hold = now, 0, hold; return b end
    else
      tat = tonumber(string.match(v, '^,(%d+)', p))
      if tat < now then tat = now end
    end
    b.base = tat
    b.room = math.floor((now + burst * T - tat) / T)
  end
  if b.room < 0 then b.room = 0 end
  return b
end

-- commit records g segments granted at now in bucket b (nothing when g is 0)
-- and sets its key to expire shortly after its state stops mattering.
local MS = '' -- the Take's time in ms rounded up, as a log record writes it

local function commit(b, g, now, recovery)
  if g <= 0 then return end
  local v, keep
  local ms = math.ceil(now / 1000)
  if b.kind == KS then
    local old, pos = b.v, b.pos
    local len = #old
    local s = b.s + g
    if len > pos then
      -- records are fixed width: comparing the strings compares the times
      local last = string.sub(old, len - REC + 1, len - 7)
      if last >= MS then
        -- same millisecond, or the clock went back: add to the last record,
        -- which keeps the log in order and counts the grant no shorter
        v = string.format('s,%d,%d,%d;%s%s%07d', b.fc, b.cut, s, string.sub(old, pos, len - REC), last,
          tonumber(string.sub(old, len - 6, len)) + g)
        ms = tonumber(last)
        b.pos = #v - (len - pos)
      end
    end
    if not v then
      v = string.format('s,%d,%d,%d;%s%s%07d', b.fc, b.cut, s, string.sub(old, pos), MS, g)
      b.pos = #v - (len - pos) - REC
    end
    b.v, b.s = v, s
    keep = ms * 1000 + b.W
  elseif b.kind == KL then
    if b.fresh then redis.call('DEL', b.logkey) end
    if b.last >= ms then
      b.lastn = b.lastn + g
      redis.call('LSET', b.logkey, -1, string.format(RECFMT, b.last, b.lastn))
    else
      redis.call('RPUSH', b.logkey, string.format(RECFMT, ms, g))
      b.last, b.lastn = ms, g
      if b.first == 0 then b.first = ms end
    end
    b.s = b.s + g
    keep = b.last * 1000 + b.W
    if b.fc ~= 0 and b.cut + recovery > keep then keep = b.cut + recovery end
    if b.x < keep + SLACK then
      b.x = keep + SLACK + EXTEND
      redis.call('PEXPIRE', b.logkey, math.ceil((b.x - now) / 1000))
    end
    v = string.format('l,%d,%d,%d,%d,%d,%d,%d', b.fc, b.cut, b.s, b.first, b.last, b.lastn, b.x)
  else
    local tat = b.base + g * b.T
    v = string.format('b,%d,%d,%d,%d,%d,%d', b.fc, b.cut, tat, now, b.base, g)
    b.base = tat
    keep = tat
  end
  if b.fc ~= 0 and b.cut + recovery > keep then keep = b.cut + recovery end
  redis.call('SET', b.key, v, 'PX', math.ceil((keep + SLACK - now) / 1000))
end

-- wait is the time from now until bucket b has room for one more segment
-- (0 if it has room now).
local function wait(b, now)
  if b.hold then return b.hold - now end
  if b.mode ~= SLIDING then
    local w = b.base + b.T - b.B * b.T - now
    if w < 0 then w = 0 end
    return w
  end
  local excess = b.s - b.n + 1 -- segments that must leave the window first
  if excess <= 0 then return 0 end
  if b.kind == KS then
    local v, pos = b.v, b.pos
    while pos < #v do
      excess = excess - tonumber(string.sub(v, pos + 13, pos + REC - 1))
      if excess <= 0 then
        return tonumber(string.sub(v, pos, pos + 12)) * 1000 + b.W - now
      end
      pos = pos + REC
    end
    return b.W -- not reached: sum is the total of the log
  end
  -- log list: from its head (what load read of it first)
  local chunk, i, off = b.head, b.headi, 0
  if not chunk then chunk, i = redis.call('LRANGE', b.logkey, 0, CHUNK - 1), 1 end
  while true do
    while chunk[i] do
      excess = excess - recn(chunk[i])
      if excess <= 0 then return recms(chunk[i]) * 1000 + b.W - now end
      i = i + 1
    end
    off = off + #chunk - (b.headi or 1) + 1
    b.headi = nil
    if #chunk < CHUNK then return b.last * 1000 + b.W - now end -- not reached
    chunk, i = redis.call('LRANGE', b.logkey, off, off + CHUNK - 1), 1
  end
end

-- share splits the account's room among the wants by weighted max-min
-- fairness (water-filling): each gets at most its cap, the rest in
-- proportion to its weight; what a capped one cannot use goes to the others.
-- Integer remainders go to the wants in the order given.
local function share(cap, room, total)
  local m = #cap
  local g = {}
  if total <= room then
    for i = 1, m do g[i] = cap[i] end
    return g
  end
  local w = {}
  for i = 1, m do w[i] = tonumber(ARGV[3 + 7 * i + 5]) end
  local idx, wsum = {}, 0
  for i = 1, m do
    g[i] = 0
    if cap[i] > 0 then idx[#idx + 1] = i; wsum = wsum + w[i] end
  end
  -- fill the smallest caps (relative to weight) first
  table.sort(idx, function(a, b) return cap[a] * w[b] < cap[b] * w[a] end)
  local x, rem, k = {}, room, 1
  while k <= #idx do
    local i = idx[k]
    if cap[i] * wsum > rem * w[i] then break end
    x[i] = cap[i]
    rem, wsum = rem - cap[i], wsum - w[i]
    k = k + 1
  end
  for j = k, #idx do
    local i = idx[j]
    x[i] = rem * w[i] / wsum
  end
  local given = 0
  for _, i in ipairs(idx) do
    local v = math.floor(x[i] + 1e-9)
    if v > cap[i] then v = cap[i] end
    g[i] = v
    given = given + v
  end
  rem = room - given
  -- remainders: first to those whose exact share has a fraction, in order
  for i = 1, m do
    if rem <= 0 then break end
    if g[i] < cap[i] and x[i] and x[i] - g[i] > 1e-9 then g[i] = g[i] + 1; rem = rem - 1 end
  end
  for i = 1, m do
    if rem <= 0 then break end
    if g[i] < cap[i] then g[i] = g[i] + 1; rem = rem - 1 end
  end
  -- never more than the room, whatever the rounding did
  for i = m, 1, -1 do
    while rem < 0 and g[i] > 0 do g[i] = g[i] - 1; rem = rem + 1 end
  end
  return g
end

-- take: KEYS[1] is the account's fence, KEYS[2] the account's bucket,
-- KEYS[2+i] want i's number bucket, then the log lists of buckets that have
-- one. ARGV: op, margin, recovery, then seven per bucket (the account
-- first): N, interval, mode, burst (bucket mode: the effective one;
-- sliding mode: the bucket's spread, µs added to its margin), weight,
-- max, and the index in KEYS of its log list (0: inline). Replies {now,
-- quiet, account wait, g1, w1, ..., gm, wm}: segments granted to want i now
-- and its number's wait.
local function take()
  local margin, recovery = tonumber(ARGV[2]), tonumber(ARGV[3])
  local m = (#ARGV - 3) / 7 - 1
  local now = clock()
  local reply = {now, 0, 0}
  for i = 1, m do reply[2 + 2 * i], reply[3 + 2 * i] = 0, 0 end
  MS = string.format('%013d', math.ceil(now / 1000))

  local fence = redis.call('HMGET', KEYS[1], 'f', 'q', 'r')
  local vals = redis.call('MGET', unpack(KEYS, 2, 2 + m))
  local epoch = tonumber(fence[1])
  if epoch == nil then
    -- New, or Redis lost the account's state: grants made before may still
    -- count at the carrier. Nothing is granted until the longest span of
    -- the buckets at hand has passed (buckets not at hand wait their own
    -- span from the epoch: see load).
    local q = 0
    for j = 0, m do
      local a = 3 + 7 * j
      local _, fc, cut = header(vals[j + 1])
      local f = fraction(fc, cut, now, recovery)
      local sp = span(tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), f, margin)
      if sp > q then q = sp end
    end
    redis.call('HSET', KEYS[1], 'f', int(now), 'q', int(now + q), 'r', int(now))
    redis.call('PEXPIRE', KEYS[1], FENCE_TTL)
    reply[2], reply[3] = q, q
    return reply
  end
  if now - (tonumber(fence[3]) or 0) > FENCE_REFRESH then
    redis.call('HSET', KEYS[1], 'r', int(now))
    redis.call('PEXPIRE', KEYS[1], FENCE_TTL)
  end
  local q = tonumber(fence[2]) or 0
  if now < q then
    reply[2], reply[3] = q - now, q - now
    return reply
  end

  local acct = load(vals[1], KEYS[2], 3, now, margin, recovery, epoch)
  local bs, cap, wanted, total = {}, {}, {}, 0
  for i = 1, m do
    local a = 3 + 7 * i
    local b = load(vals[i + 1], KEYS[2 + i], a, now, margin, recovery, epoch)
    bs[i] = b
    local c = tonumber(ARGV[a + 6])
    wanted[i] = c
    if b.room < c then c = b.room end
    cap[i] = c
    total = total + c
  end
  local g = share(cap, acct.room, total)
  local sum = 0
  for i = 1, m do
    commit(bs[i], g[i], now, recovery)
    sum = sum + g[i]
    if g[i] < wanted[i] then reply[3 + 2 * i] = wait(bs[i], now) end
    reply[2 + 2 * i] = g[i]
  end
  commit(acct, sum, now, recovery)
  reply[3] = wait(acct, now)
  return reply
end

-- give: KEYS[1] and KEYS[2] are the account's bucket and a number's, then
-- the log lists of those that have one. ARGV: op, at (the grant's time, µs),
-- n, then for each bucket the index in KEYS of its log list (0: none). Gives
-- back n segments granted at `at` and never sent: in sliding mode from the
-- log record of at's millisecond (whatever else was granted then stays;
-- a log list is searched among its last 16 records), in bucket mode only if
-- that grant is still the bucket's latest, by putting its tat back as if n
-- fewer had been granted. Replies what each bucket took back.
local function give()
  local at, n = tonumber(ARGV[2]), tonumber(ARGV[3])
  local ms = math.ceil(at / 1000)
  local vals = redis.call('MGET', KEYS[1], KEYS[2])
  local reply = {}
  for j = 1, 2 do
    local k = 0
    local v = vals[j]
    local kind, fc, cut, p = header(v)
    local li = tonumber(ARGV[3 + j])
    if kind == KS then
      local s, q = string.match(v, '^,(%d+);()', p)
      local pos = #v - REC + 1
      while pos >= q do
        local t = tonumber(string.sub(v, pos, pos + 12))
        if t < ms then break end
        if t == ms then
          local c = tonumber(string.sub(v, pos + 13, pos + REC - 1))
          k = n
          if c < k then k = c end
          local rec = ''
          if c > k then rec = string.format(RECFMT, t, c - k) end
          local nv = string.format('s,%d,%d,%d;', fc, cut, tonumber(s) - k) ..
            string.sub(v, q, pos - 1) .. rec .. string.sub(v, pos + REC)
          redis.call('SET', KEYS[j], nv, 'KEEPTTL')
          break
        end
        pos = pos - REC
      end
    elseif kind == KL and li > 0 then
      local s, first, last, lastn, x = string.match(v, '^,(%d+),(%d+),(%d+),(%d+),(%d+)', p)
      s, lastn = tonumber(s), tonumber(lastn)
      if tonumber(last) >= ms then
        local tail = redis.call('LRANGE', KEYS[li], -16, -1)
        for i = #tail, 1, -1 do
          local t = recms(tail[i])
          if t < ms then break end
          if t == ms then
            local c = recn(tail[i])
            k = n
            if c < k then k = c end
            -- a record of 0 stays until it leaves the window
            redis.call('LSET', KEYS[li], i - #tail - 1, string.format(RECFMT, t, c - k))
            if i == #tail then lastn = c - k end
            redis.call('SET', KEYS[j], string.format('l,%d,%d,%d,%s,%s,%d,%s', fc, cut, s - k, first, last, lastn, x), 'KEEPTTL')
            break
          end
        end
      end
    elseif kind == KB then
      local tat, a, base, g = string.match(v, '^,(%d+),(%d+),(%d+),(%d+)', p)
      tat, a, base, g = tonumber(tat), tonumber(a), tonumber(base), tonumber(g)
      if a == at and g > 0 then
        k = n
        if g < k then k = g end
        local nt = base + math.ceil((tat - base) * (g - k) / g)
        redis.call('SET', KEYS[j], string.format('b,%d,%d,%d,%d,%d,%d', fc, cut, nt, a, base, g - k), 'KEEPTTL')
      end
    end
    reply[j] = k
  end
  return reply
end

-- cut: KEYS[1] is one bucket. ARGV: op, backoff (ppm), floor (ppm),
-- recovery, hold. Multiplies the bucket's rate fraction by backoff (not
-- below floor) unless it was cut less than hold ago. Replies {cut?, now,
-- fraction}.
local function cutrate()
  local backoff, floor = tonumber(ARGV[2]), tonumber(ARGV[3])
  local recovery, hold = tonumber(ARGV[4]), tonumber(ARGV[5])
  local now = clock()
  local k = KEYS[1]
  local v = redis.call('MGET', k)[1]
  local kind, fc, c, p = header(v)
  local f = fraction(fc, c, now, recovery)
  if fc ~= 0 and now >= c and now - c < hold then return {0, now, f} end
  local nf = math.floor(f * backoff / PPM)
  if nf < floor then nf = floor end
  local nv
  if kind == 0 then
    nv = string.format('n,%d,%d', nf, now)
  else
    nv = string.format('%s,%d,%d', string.char(kind), nf, now) .. string.sub(v, p)
  end
  local ttl = math.floor((recovery + SLACK) / 1000)
  local pttl = redis.call('PTTL', k)
  if pttl > ttl then ttl = pttl end
  redis.call('SET', k, nv, 'PX', int(ttl))
  return {1, now, nf}
end

-- rate: KEYS[1] is one bucket. ARGV: op, recovery. Replies {now, fraction}.
local function rate()
  local now = clock()
  local _, fc, c = header(redis.call('MGET', KEYS[1])[1])
  return {now, fraction(fc, c, now, tonumber(ARGV[2]))}
end

-- idle: KEYS[1] is an account's fence. Creates it as if it had existed for
-- ever (no quiet period), or ends the quiet period in force. Replies 1 if it
-- changed anything.
local function idle()
  local now = clock()
  local h = redis.call('HMGET', KEYS[1], 'f', 'q')
  if h[1] and (tonumber(h[2]) or 0) <= now then return 0 end
  redis.call('HSET', KEYS[1], 'f', '0', 'q', '0', 'r', int(now))
  redis.call('PEXPIRE', KEYS[1], FENCE_TTL)
  return 1
end

-- quiet: KEYS[1] is an account's fence. Replies {now, end of the quiet
-- period (0 if none was ever set), 1 if the fence exists}.
local function quiet()
  local now = clock()
  local h = redis.call('HMGET', KEYS[1], 'f', 'q')
  if not h[1] then return {now, 0, 0} end
  return {now, tonumber(h[2]) or 0, 1}
end

-- spread: KEYS[1] is an account's spread key. With ARGV[2] (µs) and
-- ARGV[3] (ms), remember that spread for that long unless a larger one is
-- remembered (whose time is renewed). Replies {the spread remembered, 0
-- if none}.
local function spread()
  local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
  local d = tonumber(ARGV[2] or '')
  if d then
    local ttl = tonumber(ARGV[3])
    if d > cur then
      redis.call('SET', KEYS[1], int(d), 'PX', ttl)
      cur = d
    elseif cur > 0 then
      redis.call('PEXPIRE', KEYS[1], ttl)
    end
  end
  return {cur}
end

local op = ARGV[1]
if op == 'take' then return take() end
if op == 'give' then return give() end
if op == 'cut' then return cutrate() end
if op == 'rate' then return rate() end
if op == 'idle' then return idle() end
if op == 'quiet' then return quiet() end
if op == 'time' then return {clock()} end
if op == 'spread' then return spread() end
return redis.error_reply('throttle: unknown operation ' .. tostring(op))
