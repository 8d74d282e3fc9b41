-- wrk driver for bench/checkins.py: POST /v1/checkins, rotating through pre-minted member tokens.
--
-- Settings (bench/wrklib.lua, which this driver builds on): data_path holds one line per member, token TAB
-- point TAB point ... (each point a ready JSON fragment); limit and rate as wrklib.lua says.
--
-- Each member always checks in around its own home fence and is never in flight twice at once (its
-- thread owns it), and consecutive check-ins of one member are many seconds apart, so the speed check
-- sees a plausible walker and fence events (enter, exit) fire as they would in the field.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(here .. "wrklib.lua")
local config = lib.config

local tokens = {}
local points = {}
local stopped = false
local request_head
local recorded_second = -1
local recorded_at = ""

local function load_members()
  lib.load_lines(function(fields)
    tokens[#tokens + 1] = fields[1]
    local mine = {}
    for i = 2, #fields do
      mine[#mine + 1] = fields[i]
    end
    points[#points + 1] = mine
  end)
end

function init(args)
  load_members()
  request_head = "POST /v1/checkins HTTP/1.1\r\nHost: " .. lib.host_header() .. "\r\nAuthorization: Bearer %s\r\n"
    .. "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
  if config.rate > 0 then
    delay = lib.paced_delay -- wrk only paces when a global delay() exists
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
  lib.record(status, body)
  if config.limit > 0 and received >= config.limit and not stopped then
    stopped = true
    lib.stop_thread()
  end
end
