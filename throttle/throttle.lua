-- Switchboard throttle: GCRA token buckets with future scheduling.
--
-- One script, several operations, chosen by ARGV[1]. doc.go states the
-- semantics and the key layout; mirror_test.go mirrors this arithmetic in Go and the
-- tests hold the two to the same answers. All times are integer microseconds
-- of the Redis clock (TIME). Every number written to Redis goes through
-- int() (string.format '%d'), so nothing is rounded to 14 digits on the way.
-- Lua numbers are doubles: every value here stays far below 2^53.

local DAY = 86400000000          -- µs in a UTC day (daily caps)
local PPM = 1000000              -- rate fractions are in parts per million
local FENCE_TTL = 604800000      -- ms: a fence lives 7 days after its last refresh
local FENCE_REFRESH = 3600000000 -- µs: refresh the fence's TTL at most hourly
local SLACK = 1000000            -- µs a bucket key outlives its state, at least
local EXTEND = 10000000          -- µs more, so that TTLs are rarely renewed

local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function int(x)
  return string.format('%d', x)
end

-- fraction is the share of the configured rate in force at now, in ppm: what
-- the last cut left (fcut at time cut) plus a linear recovery to PPM over
-- `recovery` µs.
local function fraction(fcut, cut, now, recovery)
  if fcut == nil or cut == nil then return PPM end
  local elapsed = now - cut
  if elapsed < 0 then elapsed = 0 end
  if elapsed >= recovery then return PPM end
  local f = fcut + math.floor(elapsed * PPM / recovery)
  if f > PPM then f = PPM end
  return f
end

-- Capacity. A bucket's capacity is time: one second of it per `rate`
-- segments. A segment at time t takes T (the emission interval) of the free
-- capacity within [t-tau, t+T], the earliest first; what segments take is
-- disjoint, hence the bound in doc.go. Capacity before the TAT is taken,
-- except for holes: gaps left when a segment had to go later than the TAT
-- (another bucket held it back). Later segments fill them, so that capacity
-- is not lost. A bucket keeps at most MAXHOLES, dropping the shortest (that
-- only wastes capacity); holes are "a1 b1 a2 b2 ..." in field h.
local MAXHOLES = 32

-- parseholes reads holes, trimmed to start no earlier than from (no segment
-- from now on can use capacity before now-tau).
local function parseholes(s, from)
  local h, raw = {}, {}
  if s then
    for w in string.gmatch(s, '%d+') do raw[#raw + 1] = tonumber(w) end
  end
  for i = 1, #raw - 1, 2 do
    local a, b = raw[i], raw[i + 1]
    if a < from then a = from end
    if b > a then h[#h + 1] = a; h[#h + 1] = b end
  end
  return h
end

local function formatholes(h)
  local s = {}
  for i = 1, #h do s[i] = int(h[i]) end
  return table.concat(s, ' ')
end

-- freein is how much free capacity (holes, and all from the TAT on) lies
-- within [x, y].
local function freein(tat, h, x, y)
  local f = 0
  for k = 1, #h - 1, 2 do
    local lo, hi = h[k], h[k + 1]
    if lo < x then lo = x end
    if hi > y then hi = y end
    if hi > lo then f = f + hi - lo end
  end
  local lo = tat
  if lo < x then lo = x end
  if y > lo then f = f + y - lo end
  return f
end

-- place is the earliest time t >= lo at which the bucket has T of free
-- capacity within [t-tau, t+T]. That amount is piecewise linear in t, with
-- breakpoints where an end of the window crosses an end of a free interval.
local function place(tat, h, T, tau, lo)
  local fp = freein(tat, h, lo - tau, lo + T)
  if fp >= T then return lo end
  if #h == 0 then
    if tat > lo then return tat end
    return lo
  end
  local pts = {}
  local function add(e)
    if e + tau > lo then pts[#pts + 1] = e + tau end
    if e - T > lo then pts[#pts + 1] = e - T end
  end
  for k = 1, #h do add(h[k]) end
  add(tat)
  table.sort(pts)
  local p = lo
  for _, q in ipairs(pts) do
    if q ~= p then
      local fq = freein(tat, h, q - tau, q + T)
      if fq >= T then
        local slope = (fq - fp) / (q - p)
        return p + math.ceil((T - fp) / slope)
      end
      p, fp = q, fq
    end
  end
  if tat > lo then return tat end
  return lo
end

-- dropsmallest removes the shortest hole (the earliest of equals).
local function dropsmallest(h)
  local k = 1
  for i = 3, #h - 1, 2 do
    if h[i + 1] - h[i] < h[k + 1] - h[k] then k = i end
  end
  table.remove(h, k); table.remove(h, k)
end

-- take lets a segment at t take T of the free capacity within [t-tau, t+T],
-- the earliest first, and returns the new TAT and holes.
local function take(tat, h, T, tau, t, from)
  local w0, w1 = t - tau, t + T
  local need = T
  local n = {}
  for k = 1, #h - 1, 2 do
    local a, b = h[k], h[k + 1]
    local lo, hi = a, b
    if lo < w0 then lo = w0 end
    if hi > w1 then hi = w1 end
    if need > 0 and hi > lo then
      local x = hi - lo
      if x > need then x = need end
      if lo > a then n[#n + 1] = a; n[#n + 1] = lo end
      if b > lo + x then n[#n + 1] = lo + x; n[#n + 1] = b end
      need = need - x
    else
      n[#n + 1] = a; n[#n + 1] = b
    end
  end
  if need > 0 then
    local lo = tat
    if lo < w0 then lo = w0 end
    local g = tat
    if g < from then g = from end
    if lo > g then n[#n + 1] = g; n[#n + 1] = lo end
    tat = lo + need
  end
  while #n > 2 * MAXHOLES do dropsmallest(n) end
  return tat, n
end

-- reserve: KEYS[1] is the account's fence, KEYS[2..] the buckets.
-- ARGV: op, cost, horizon, maxspan, token, recovery, floor (ppm), then per
-- bucket T (emission interval), tau (burst tolerance), cap (0 = none).
-- Replies {0, now, t1..tcost} (granted: the time of every segment),
-- {1, now, wait, j} (first segment beyond the horizon), {2, now, reset, j}
-- (daily cap of bucket j reached), {3, now, span, j} (segments spread over
-- more than maxspan). j is 1-based among the buckets, 0 for none.
local function reserve()
  local cost = tonumber(ARGV[2])
  local horizon = tonumber(ARGV[3])
  local maxspan = tonumber(ARGV[4])
  local token = ARGV[5]
  local recovery = tonumber(ARGV[6])
  local floor = tonumber(ARGV[7])
  local now = clock()

  -- The fence records when this Redis began to hold the account's state.
  -- A missing fence means the state is new or was lost: reservations made
  -- before may still be outstanding, up to horizon + maxspan ahead and one
  -- interval (at the slowest rate a cut allows) beyond, so a bucket without
  -- state starts after that quiet period, without burst.
  local fence = redis.call('HMGET', KEYS[1], 'f', 'r')
  local epoch = tonumber(fence[1])
  if epoch == nil then
    epoch = now
    redis.call('HSET', KEYS[1], 'f', int(now), 'r', int(now))
    redis.call('PEXPIRE', KEYS[1], FENCE_TTL)
  elseif now - (tonumber(fence[2]) or 0) > FENCE_REFRESH then
    redis.call('HSET', KEYS[1], 'r', int(now))
    redis.call('PEXPIRE', KEYS[1], FENCE_TTL)
  end
  local quiet = epoch + horizon + maxspan

  local m = #KEYS - 1
  local tat, prev, prevh, holes, T, tc, tau, cap = {}, {}, {}, {}, {}, {}, {}, {}
  local fcut, cut, day, count, expiry = {}, {}, {}, {}, {}
  for j = 1, m do
    local a = 7 + 3 * (j - 1)
    tc[j] = tonumber(ARGV[a + 1])
    tau[j] = tonumber(ARGV[a + 2])
    cap[j] = tonumber(ARGV[a + 3])
    local h = redis.call('HMGET', KEYS[j + 1], 't', 'h', 'f', 'c', 'dd', 'dc', 'x')
    fcut[j], cut[j] = tonumber(h[3]), tonumber(h[4])
    day[j], count[j] = tonumber(h[5]), tonumber(h[6])
    expiry[j] = tonumber(h[7]) or 0
    T[j] = math.ceil(tc[j] * PPM / fraction(fcut[j], cut[j], now, recovery))
    local t = tonumber(h[1])
    if t == nil then t = quiet + math.ceil(tc[j] * PPM / floor) end
    tat[j], prev[j] = t, t
    prevh[j] = h[2] or ''
    holes[j] = parseholes(h[2], now - tau[j])
  end

  -- Each segment goes at the earliest time, not before the previous
  -- segment, at which every bucket has room; then it takes room in each.
  local times = {}
  local s = now
  local limfirst, limlast = 0, 0
  for i = 1, cost do
    local lim = 0
    local settled = false
    for pass = 1, 16 do
      settled = true
      for j = 1, m do
        local t = place(tat[j], holes[j], T[j], tau[j], s)
        if t > s then s = t; lim = j; settled = false end
      end
      if settled then break end
    end
    if not settled then
      -- from its TAT on, every bucket has room
      for j = 1, m do
        if tat[j] > s then s = tat[j]; lim = j end
      end
    end
    times[i] = s
    if i == 1 then limfirst = lim end
    if lim > 0 then limlast = lim end
    for j = 1, m do
      tat[j], holes[j] = take(tat[j], holes[j], T[j], tau[j], s, now - tau[j])
    end
  end

  local first = times[1]
  if first - now > horizon then return {1, now, first - now, limfirst} end
  local span = times[cost] - first
  if span > maxspan then return {3, now, span, limlast} end
  local dfirst = math.floor(first / DAY)
  local dd, used = {}, {}
  for j = 1, m do
    if cap[j] > 0 then
      -- count in the day of the first segment, or in a later day that the
      -- bucket already counts in (the clock went back): never undercount
      local dj = dfirst
      if day[j] ~= nil and day[j] > dj then dj = day[j] end
      dd[j], used[j] = dj, 0
      if day[j] == dj then used[j] = count[j] or 0 end
      if used[j] + cost > cap[j] then return {2, now, (dj + 1) * DAY - now, j} end
    end
  end

  for j = 1, m do
    local k = KEYS[j + 1]
    local keep = tat[j]
    local args = {'t', int(tat[j]), 'h', formatholes(holes[j]), 'p', int(prev[j]), 'q', prevh[j], 'r', token}
    if cap[j] > 0 then
      args[11], args[12], args[13], args[14] = 'dd', int(dd[j]), 'dc', int(used[j] + cost)
      if (dd[j] + 1) * DAY > keep then keep = (dd[j] + 1) * DAY end
    end
    if cut[j] ~= nil and cut[j] + recovery > keep then keep = cut[j] + recovery end
    -- x is when the key expires at the earliest: renew it only when short
    local x = nil
    if expiry[j] < keep + SLACK then
      x = keep + SLACK + EXTEND
      args[#args + 1] = 'x'
      args[#args + 1] = int(x)
    end
    redis.call('HSET', k, unpack(args))
    if x then redis.call('PEXPIRE', k, int(math.floor((x - now) / 1000))) end
  end

  local reply = {0, now}
  for i = 1, cost do reply[i + 2] = times[i] end
  return reply
end

-- cancel: KEYS are the buckets of one reservation. ARGV: op, token, cost,
-- day. In every bucket where that reservation is still the latest one booked,
-- put the bucket back as it was before it (and give back its daily count).
-- Elsewhere its tokens stay spent. Replies the number of buckets restored.
local function cancel()
  local token, cost, d = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
  local n = 0
  for j = 1, #KEYS do
    local h = redis.call('HMGET', KEYS[j], 'r', 'p', 'q', 'dd', 'dc')
    if h[1] == token and h[2] then
      n = n + 1
      if tonumber(h[4]) == d and h[5] then
        local c = tonumber(h[5]) - cost
        if c < 0 then c = 0 end
        redis.call('HSET', KEYS[j], 't', h[2], 'h', h[3] or '', 'r', '', 'dc', int(c))
      else
        redis.call('HSET', KEYS[j], 't', h[2], 'h', h[3] or '', 'r', '')
      end
    end
  end
  return n
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
  local h = redis.call('HMGET', k, 'f', 'c')
  local fc, c = tonumber(h[1]), tonumber(h[2])
  local f = fraction(fc, c, now, recovery)
  if c ~= nil and now >= c and now - c < hold then return {0, now, f} end
  local nf = math.floor(f * backoff / PPM)
  if nf < floor then nf = floor end
  redis.call('HSET', k, 'f', int(nf), 'c', int(now))
  local want = math.floor((recovery + SLACK) / 1000)
  if redis.call('PTTL', k) < want then redis.call('PEXPIRE', k, int(want)) end
  return {1, now, nf}
end

-- rate: KEYS[1] is one bucket. ARGV: op, recovery. Replies {now, fraction}.
local function rate()
  local now = clock()
  local h = redis.call('HMGET', KEYS[1], 'f', 'c')
  return {now, fraction(tonumber(h[1]), tonumber(h[2]), now, tonumber(ARGV[2]))}
end

-- idle: KEYS[1] is an account's fence. Creates it as if it had existed for
-- ever (no quiet period), unless it exists. Replies 1 if created.
local function idle()
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  redis.call('HSET', KEYS[1], 'f', '0', 'r', int(clock()))
  redis.call('PEXPIRE', KEYS[1], FENCE_TTL)
  return 1
end

local op = ARGV[1]
if op == 'reserve' then return reserve() end
if op == 'cancel' then return cancel() end
if op == 'cut' then return cutrate() end
if op == 'rate' then return rate() end
if op == 'idle' then return idle() end
if op == 'time' then return {clock()} end
return redis.error_reply('throttle: unknown operation ' .. tostring(op))
