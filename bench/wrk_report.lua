-- wrk_report.lua: the summary line every wrk script under bench/ prints,
-- one JSON object: requests, seconds, rps, p50/p99/max latency (ms), errors
-- (connect, read, write, status, timeout) and non_2xx (status errors alone).
-- Scripts load it with require("wrk_report") (LUA_PATH set by bench/lib.sh).
local M = {}

function M.done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"seconds":%.2f,"rps":%.0f,"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"errors":%d,"non_2xx":%d}\n',
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, errors, e.status))
end

-- A per-thread seed, so the threads draw different sequences.
function M.seed()
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

return M
