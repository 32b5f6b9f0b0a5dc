-- wrk script for bench/menu: GET /api/v1/restaurants/{id}/menu with ids drawn
-- at random over 1..SE_BENCH_RESTAURANTS (default 1000); prints one JSON line.
local n = tonumber(os.getenv("SE_BENCH_RESTAURANTS") or "1000")

function init(args)
  -- each wrk thread has its own Lua state: seed each one differently
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  return wrk.format("GET", "/api/v1/restaurants/" .. math.random(1, n) .. "/menu")
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"seconds":%.2f,"rps":%.0f,"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"errors":%d,"non_2xx":%d}\n',
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, errors, e.status))
end
