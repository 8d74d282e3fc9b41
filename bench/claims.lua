-- wrk driver for bench/claims.py: one POST per line of the data file, each line sent once, and a thread
-- stops only when every request it sent has its answer, so the answers counted are all the writes made.
--
-- Settings (bench/wrklib.lua, which this driver builds on): data_path holds one line per request, the
-- bearer token (a member's token for claims, an API key for redemptions) then, optionally, TAB and the JSON
-- body; path is where the requests go; limit caps the lines a thread sends; seconds is how long a thread
-- sends for (it then waits for its last answers); rate paces the sends.
--
-- wrk itself has no request budget: when it stops on -d, or a thread stops after its count of answers, the
-- requests still in flight are abandoned, and the server may still carry them out (a coupon issued that no
-- answer reported). Here delay(), which wrk calls before every request, reserves a line for the request to
-- come or, when there is none left (or the time is up), parks the connection (a 10-minute timer); the
-- thread stops once nothing it sent is unanswered. A request() without a reservation (wrk's one check
-- call when it starts, or a reconnect) gets GET /health/live, which changes nothing and is not counted.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(here .. "wrklib.lua")
local config = lib.config

local PARKED_MS = 600000

local auths = {}
local bodies = {}
local budget = 0
local reserved = 0
local deadline = -1
local stopped = false
local request_head
local filler
fillers = 0

function init(args)
  lib.load_lines(function(fields)
    auths[#auths + 1] = fields[1]
    bodies[#bodies + 1] = fields[2] or ""
  end)
  budget = #auths
  if config.limit > 0 and config.limit < budget then
    budget = config.limit
  end
  local host = lib.host_header()
  request_head = "POST " .. config.path .. " HTTP/1.1\r\nHost: " .. host .. "\r\nAuthorization: Bearer %s\r\n"
    .. "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
  filler = "GET /health/live HTTP/1.1\r\nHost: " .. host .. "\r\n\r\n"
end

local function finished()
  return sent + reserved >= budget or (deadline >= 0 and lib.now() >= deadline)
end

local function stop_when_answered()
  if not stopped and received >= sent and finished() then
    stopped = true
    lib.stop_thread()
  end
end

function delay()
  if deadline < 0 then
    deadline = lib.now() + config.seconds
  end
  if finished() then
    stop_when_answered()
    return PARKED_MS
  end
  reserved = reserved + 1
  if config.rate > 0 then
    return lib.paced_delay()
  end
  return 0
end

function request()
  if reserved == 0 then
    fillers = fillers + 1
    return filler
  end
  reserved = reserved - 1
  sent = sent + 1
  local body = bodies[sent]
  return string.format(request_head, auths[sent], #body) .. body
end

function response(status, headers, body)
  if status == 200 then
    return -- a filler's answer (claims and redemptions answer 201 or an error)
  end
  lib.record(status, body)
  stop_when_answered()
end
