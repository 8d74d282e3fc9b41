-- wrk driver for bench/checkins.py: POST /v1/checkins, rotating through pre-minted member tokens.
--
-- Settings come from the Lua file named by $SOLOMO_BENCH_CONFIG, written per run by checkins.py:
--   data_path  one line per member: token TAB point TAB point ... (each point a ready JSON fragment)
--   threads    wrk's -t, so that each thread owns a disjoint set of members
--   limit      responses per thread before the thread stops (0: run until wrk's -d)
--   rate       requests/s per thread for a paced run (0: as fast as the connections go)
--
-- Each member always checks in around its own home fence and is never in flight twice at once (its
-- thread owns it), and consecutive check-ins of one member are many seconds apart, so the speed check
-- sees a plausible walker and fence events (enter, exit) fire as they would in the field.
--
-- Results go to stdout as one line, "SOLOMO_BENCH_RESULT {json}", printed by done().

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } solomo_bench_timespec;
int clock_gettime(int clock_id, solomo_bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("solomo_bench_timespec")

-- os.clock is CPU time and os.time has 1 s steps: pacing and throughput need a wall clock in µs.
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local config = dofile(os.getenv("SOLOMO_BENCH_CONFIG"))

-- Main state: setup() numbers the threads, done() reads their counters back with thread:get().
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  threads[#threads + 1] = thread
end

-- Thread state. Globals (not locals) where done() must read them through thread:get().
received = 0
statuses = {}
late_sends = 0
max_lag_s = 0
t_first = -1
t_last = -1
sample_error = ""

local tokens = {}
local points = {}
local sent = 0
local stopped = false
local request_head
local recorded_second = -1
local recorded_at = ""
local next_slot = -1
local interval = 0

local function load_members()
  local index = 0
  for line in io.lines(config.data_path) do
    -- Member n belongs to thread (n mod threads): no member is ever in flight on two threads.
    if index % config.threads == thread_index then
      local fields = {}
      for field in line:gmatch("[^\t]+") do
        fields[#fields + 1] = field
      end
      tokens[#tokens + 1] = fields[1]
      local mine = {}
      for i = 2, #fields do
        mine[#mine + 1] = fields[i]
      end
      points[#points + 1] = mine
    end
    index = index + 1
  end
end

-- Paced runs: each call books the next slot on this thread's schedule (one slot every 1/rate s), so
-- the request rate does not depend on how fast answers come back, as long as a connection is free.
-- A send that finds its slot already past is counted as late: its latency then misses the queueing
-- before it, which is what the late count and the largest lag report.
local function paced_delay()
  local t = now()
  if next_slot < 0 then
    next_slot = t
  end
  local slot = next_slot
  next_slot = next_slot + interval
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

function init(args)
  load_members()
  local host = wrk.host
  if wrk.port then
    host = host .. ":" .. wrk.port
  end
  request_head = "POST /v1/checkins HTTP/1.1\r\nHost: " .. host .. "\r\nAuthorization: Bearer %s\r\n"
    .. "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
  if config.rate > 0 then
    interval = 1 / config.rate
    delay = paced_delay -- wrk only paces when a global delay() exists
  end
end

function request()
  local second = os.time()
  if second ~= recorded_second then
    -- recorded_at is "now", with its time zone, as a phone sends it; one-second steps are enough.
    recorded_second = second
    recorded_at = os.date("!%Y-%m-%dT%H:%M:%SZ", second)
  end
  local count = #tokens
  local member = sent % count + 1
  local route = points[member]
  -- The k-th visit of a member takes its k-th point: inside, inside, at the edge, outside, again.
  local point = route[math.floor(sent / count) % #route + 1]
  sent = sent + 1
  local body = '{"location":' .. point .. ',"recorded_at":"' .. recorded_at .. '","mocked":false,"source":"gps"}'
  return string.format(request_head, tokens[member], #body) .. body
end

function response(status, headers, body)
  local t = now()
  if t_first < 0 then
    t_first = t
  end
  t_last = t
  received = received + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 300 and sample_error == "" then
    sample_error = status .. " " .. body:sub(1, 300)
  end
  if config.limit > 0 and received >= config.limit and not stopped then
    stopped = true
    -- wrk's main thread sleeps for -d whatever happens: checkins.py interrupts it (SIGINT, which
    -- wrk handles by printing its results) once every thread has said it is done.
    io.stderr:write("SOLOMO_BENCH_THREAD_DONE\n")
    io.stderr:flush()
    wrk.thread:stop()
  end
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

function done(summary, latency, requests)
  local total, first, last, late, lag, sample = 0, -1, -1, 0, 0, ""
  local merged = {}
  for _, thread in ipairs(threads) do
    total = total + thread:get("received")
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
    'SOLOMO_BENCH_RESULT {"responses":%d,"seconds":%.6f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"mean_us":%.1f,"statuses":{%s},"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
      .. '"late_sends":%d,"max_lag_s":%.6f,"sample_error":%s}\n',
    total, last - first, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, table.concat(codes, ","), e.connect, e.read, e.write, e.timeout, late, lag, json_string(sample)
  ))
end
