-- wrk script for bench/menu: GET /api/v1/restaurants/{id}/menu with ids drawn
-- at random over 1..SE_BENCH_RESTAURANTS (default 1000); prints one JSON line.
local report = require("wrk_report")
local n = tonumber(os.getenv("SE_BENCH_RESTAURANTS") or "1000")

function init(args)
  report.seed() -- each wrk thread has its own Lua state
end

function request()
  return wrk.format("GET", "/api/v1/restaurants/" .. math.random(1, n) .. "/menu")
end

done = report.done
