-- What the wrk drivers (bench/checkins.lua, bench/claims.lua) share: their settings, a wall clock, thread
-- numbering, the per-thread counters, fixed-rate pacing, and the result line done() prints.
--
-- A driver loads it with dofile(), which runs it in each of wrk's Lua states (the main one and one per
-- thread), and gets back a table of helpers; it also defines wrk's setup() and done() callbacks. The
-- driver defines init(), request() and response() (and delay() when it paces).
--
-- Settings come from the Lua file named by $SOLOMO_BENCH_CONFIG, written per run by bench/loadgen.py:
--   data_path  the driver's data, one line per member (or per request), fields separated by tabs
--   threads    wrk's -t, so that each thread owns a disjoint set of lines
--   limit      responses per thread before the thread stops (0: run until wrk's -d)
--   rate       requests/s per thread for a paced run (0: as fast as the connections go)
--   seconds    how long a driver that stops by itself sends for (claims.lua)
--   path       the request path (claims.lua)
--
-- Results go to stdout as one line, "SOLOMO_BENCH_RESULT {json}", printed by done().

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } solomo_bench_timespec;
int clock_gettime(int clock_id, solomo_bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("solomo_bench_timespec")

local lib = {}

-- os.clock is CPU time and os.time has 1 s steps: pacing and throughput need a wall clock in µs.
function lib.now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

lib.config = dofile(os.getenv("SOLOMO_BENCH_CONFIG"))

-- Main state: setup() numbers the threads, done() reads their counters back with thread:get().
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  threads[#threads + 1] = thread
end

-- Thread state. Globals (not locals) where done() must read them through thread:get().
received = 0
sent = 0
statuses = {}
late_sends = 0
max_lag_s = 0
t_first = -1
t_last = -1
sample_error = ""

-- Calls each(fields) for every line of the data file that belongs to this thread: line n belongs to thread
-- (n mod threads), so no member (or code) is ever in flight on two threads. Call it from init().
function lib.load_lines(each)
  local index = 0
  for line in io.lines(lib.config.data_path) do
    if index % lib.config.threads == thread_index then
      local fields = {}
      for field in line:gmatch("[^\t]+") do
        fields[#fields + 1] = field
      end
      each(fields)
    end
    index = index + 1
  end
end

function lib.host_header()
  if wrk.port then
    return wrk.host .. ":" .. wrk.port
  end
  return wrk.host
end

-- One answer: counted by status, the time of the first and last answers kept, the first error's text kept.
function lib.record(status, body)
  local t = lib.now()
  if t_first < 0 then
    t_first = t
  end
  t_last = t
  received = received + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 300 and sample_error == "" then
    sample_error = status .. " " .. body:sub(1, 300)
  end
end

-- wrk's main thread sleeps for -d whatever happens: loadgen.py interrupts it (SIGINT, which wrk handles by
-- printing its results) once every thread has said it is done.
function lib.stop_thread()
  io.stderr:write("SOLOMO_BENCH_THREAD_DONE\n")
  io.stderr:flush()
  wrk.thread:stop()
end

-- Paced runs: each call books the next slot on this thread's schedule (one slot every 1/rate s), so
-- the request rate does not depend on how fast answers come back, as long as a connection is free.
-- A send that finds its slot already past is counted as late: its latency then misses the queueing
-- before it, which is what the late count and the largest lag report. Returns the wait in ms.
local next_slot = -1
function lib.paced_delay()
  local t = lib.now()
  if next_slot < 0 then
    next_slot = t
  end
  local slot = next_slot
  next_slot = next_slot + 1 / lib.config.rate
  local wait = slot - t
  if wait < 0 then
    if -wait > 0.001 then
      late_sends = late_sends + 1
    end
    if -wait > max_lag_s then
      max_lag_s = -wait
    end
    return 0
  end
  return math.floor(wait * 1000 + 0.5) -- wrk's timers count whole milliseconds
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

function done(summary, latency, requests)
  local total, requests_sent, first, last, late, lag, sample = 0, 0, -1, -1, 0, 0, ""
  local merged = {}
  for _, thread in ipairs(threads) do
    total = total + thread:get("received")
    requests_sent = requests_sent + thread:get("sent")
    local tf, tl = thread:get("t_first"), thread:get("t_last")
    if tf >= 0 and (first < 0 or tf < first) then
      first = tf
    end
    if tl > last then
      last = tl
    end
    late = late + thread:get("late_sends")
    lag = math.max(lag, thread:get("max_lag_s"))
    for status, n in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + n
    end
    if sample == "" then
      sample = thread:get("sample_error")
    end
  end
  local codes = {}
  for status, n in pairs(merged) do
    codes[#codes + 1] = string.format('"%d":%d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'SOLOMO_BENCH_RESULT {"responses":%d,"sent":%d,"seconds":%.6f,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"mean_us":%.1f,"statuses":{%s},"socket_errors":{"connect":%d,"read":%d,"write":%d,'
      .. '"timeout":%d},"late_sends":%d,"max_lag_s":%.6f,"sample_error":%s}\n',
    total, requests_sent, last - first, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, table.concat(codes, ","), e.connect, e.read, e.write, e.timeout, late, lag,
    json_string(sample)
  ))
end

return lib
