-- Allocation-heavy Lua workload for cairn's benchmark suite.
-- Usage: lua5.4 alloc_heavy.lua SCALE
-- Prints one deterministic `result:` line. Lua allocates every table,
-- closure and string through realloc/free (l_alloc), and the collector
-- frees them, so this is a malloc stress test with a real interpreter.
local scale = tonumber(arg[1] or "10")

-- deterministic LCG (no dependence on math.random's implementation)
local seed = 12345
local function rnd(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end

-- 1. binary trees: build, walk, drop
local function make(d)
  if d == 0 then return { false, false } end
  return { make(d - 1), make(d - 1) }
end
local function check(t)
  if not t[1] then return 1 end
  return 1 + check(t[1]) + check(t[2])
end
local nodes = 0
local long_lived = make(14)
for i = 1, scale do
  for d = 4, 14, 2 do
    local iters = 1 << (14 - d)
    for _ = 1, iters do nodes = nodes + check(make(d)) end
  end
end
nodes = nodes + check(long_lived)

-- 2. strings: formatting, concatenation, gsub, table.concat
local strsum = 0
for i = 1, scale * 2 do
  local parts = {}
  for j = 1, 4000 do
    parts[#parts + 1] = string.format("%d:%s;", j * i, string.rep("x", rnd(40)))
  end
  local s = table.concat(parts)
  s = s:gsub("x+", function(m) return tostring(#m) end)
  local acc = ""
  for k = 1, 300 do acc = acc .. tostring(k % 10) end
  strsum = (strsum + #s + #acc) % 1000000007
end

-- 3. a churning dictionary of records (insert, update, delete, sort)
local dict, count, dsum = {}, 0, 0
for i = 1, scale * 30000 do
  local k = "k" .. rnd(20000)
  local r = dict[k]
  if r == nil then
    dict[k] = { id = i, name = k .. "-" .. i, tags = { i % 7, i % 11, i % 13 } }
    count = count + 1
  elseif rnd(3) == 0 then
    dict[k] = nil
    count = count - 1
  else
    r.tags[#r.tags + 1] = i % 17
    r.name = r.name .. "+"
  end
end
local keys = {}
for k, r in pairs(dict) do keys[#keys + 1] = k end
table.sort(keys)
for idx, k in ipairs(keys) do
  local r = dict[k]
  dsum = (dsum + idx * (#r.name + #r.tags + r.id)) % 1000000007
end

-- 4. closures and varargs
local function counter()
  local c = 0
  return function(...) c = c + select("#", ...) return c end
end
local csum = 0
for i = 1, scale * 20000 do
  local f = counter()
  f(1, 2, 3); csum = csum + f(i, i)
end

print(string.format("result: lua nodes=%d strsum=%d dict=%d dsum=%d csum=%d",
  nodes, strsum, count, dsum, csum))
