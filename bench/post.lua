-- wrk script: POST the body in WRK_BODY with the headers in WRK_AUTH, and print the latency
-- percentiles and status counts as one JSON line for bench/load.py to read.
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("WRK_AUTH")

local statuses = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, n in pairs(c) do merged[status] = (merged[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(merged) do table.insert(parts, '"' .. status .. '":' .. n) end
  io.write(string.format(
    'WRKJSON {"requests":%d,"seconds":%.3f,"p50":%.3f,"p99":%.3f,"statuses":{%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, table.concat(parts, ",")))
end
