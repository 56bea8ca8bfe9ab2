-- wrk script for scripts/memory-check: each request carries the next credential from a file
-- of credentials (one per line), in a cycle: a sealed session in cookie COOKIE_NAME, or with
-- COOKIE_NAME "bearer" a token in `Authorization: Bearer`.
--   wrk -t1 -cN -dS -s scripts/bench-cookies.lua URL -- FILE COOKIE_NAME START [DELAY_MS]
-- START is where in the file to begin (so consecutive runs continue the cycle); DELAY_MS
-- (optional) paces each connection, for a light load.

local cookies = {}
local name = "ak_hs"
local index = 0
local pause = 0

function init(args)
    for line in io.lines(args[1]) do
        cookies[#cookies + 1] = line
    end
    name = args[2] or name
    index = tonumber(args[3]) or 0
    pause = tonumber(args[4]) or 0
end

function request()
    index = index % #cookies + 1
    if name == "bearer" then
        return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. cookies[index] })
    end
    return wrk.format(nil, nil, { ["Cookie"] = "theme=dark; " .. name .. "=" .. cookies[index] })
end

function delay()
    return pause
end
