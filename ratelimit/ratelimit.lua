-- Switchboard API rate limits: one grant from a workspace's bucket.
--
-- KEYS[1]  the bucket (a GCRA token bucket: one integer, its theoretical
--          arrival time "tat" in µs of the Redis clock)
-- ARGV[1]  rate: units per second, >= 1
-- ARGV[2]  burst: the most units the bucket holds, >= 1
-- ARGV[3]  want: the most units to grant now, >= 1
--
-- Grants min(want, what the bucket holds) and answers
--   {granted, left, wait, full}
-- left: whole units the bucket still holds; wait: µs until it holds one
-- again (0 when left >= 1); full: µs until it is full again. doc.go states
-- the semantics. Every value stays far below 2^53 (Lua numbers are
-- doubles): now is about 1.8e15 µs, a unit costs at most 1e6 µs.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
if not rate or rate < 1 or not burst or burst < 1 or not want or want < 1 then
  return redis.error_reply('ratelimit: bad arguments')
end

-- A unit's cost, rounded up: the bucket never grants faster than rate.
local cost = math.ceil(1000000 / rate)
local cap = burst * cost
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
-- A lower rate or burst than when tat was written can leave tat beyond
-- now + cap: the bucket is then empty until it catches up.
local room = math.floor((now + cap - tat) / cost)
if room < 0 then room = 0 end
local granted = math.min(want, room)
if granted > 0 then
  tat = tat + granted * cost
  -- The key outlives its state by a second: past tat the bucket is full,
  -- which a missing key also means.
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
local left = math.floor((now + cap - tat) / cost)
if left < 0 then left = 0 end
local wait = 0
if left < 1 then wait = tat + cost - cap - now end
return {granted, left, wait, tat - now}
