-- wrk script for bench/orders: POST /api/v1/orders with 1 to 3 lines drawn at
-- random from SE_BENCH_ITEMS (a file of "item_id price_cents" lines: items
-- that are orderable, written by bench/orders/run.sh from the database), 1 to
-- 3 of each, the menu's own prices, a customer out of 1,000 and a unique
-- Idempotency-Key per request (as a real client sends). Prints one JSON line.
local report = require("wrk_report")
local items = {}
local counter = 0
local run_id = os.getenv("SE_BENCH_RUN_ID") or tostring(os.time())

-- setup runs in the main Lua state; thread:set makes `thread_no` a global
-- of that thread's own state.
local threads_started = 0
function setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_no", threads_started)
end

function init(args)
  report.seed()
  for line in io.lines(os.getenv("SE_BENCH_ITEMS")) do
    local id, price = line:match("^(%d+)%s+(%d+)")
    if id then items[#items + 1] = {id, tonumber(price)} end
  end
  assert(#items > 0, "no orderable items in " .. os.getenv("SE_BENCH_ITEMS"))
end

local function money(cents)
  return string.format("%d.%02d", math.floor(cents / 100), cents % 100)
end

function request()
  counter = counter + 1
  local lines = {}
  for i = 1, math.random(1, 3) do
    local it = items[math.random(1, #items)]
    lines[i] = string.format('{"item_id":"%s","item_name":"bench","quantity":%d,"price":%s}',
                             it[1], math.random(1, 3), money(it[2]))
  end
  local body = string.format('{"customer_id":"bench-customer-%d","items":[%s]}',
                             math.random(1, 1000), table.concat(lines, ","))
  return wrk.format("POST", "/api/v1/orders", {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("bench-%s-%d-%d", run_id, thread_no, counter),
  }, body)
end

done = report.done
