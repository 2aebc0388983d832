import { createHash } from 'node:crypto';

/** A Lua script and its SHA1, for EVALSHA (docs/PROTOCOL.md §3.12). */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/*
 * Lua numbers are doubles whose tostring turns 10^14 into "1e+14": every id
 * goes out through string.format('%d'). `floor` is the highest id the calling
 * server has seen of the channel: if Redis lost its data, the counter comes
 * back above it instead of reissuing old ids.
 */

/**
 * Publish. KEYS: counter, stream. ARGV: pub/sub channel, event, data JSON,
 * retention, floor. Returns the new id. The id, the append and the PUBLISH
 * happen in one atomic step, so ids are consecutive and PUBLISHed in order.
 */
export const PUBLISH = script(`
local id = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[5])
if id <= floor then
  id = floor + 1
  redis.call('SET', KEYS[1], string.format('%d', id))
end
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', ARGV[4], string.format('%d', id) .. '-0', 'e', ARGV[2], 'd', ARGV[3])
if type(added) == 'table' and added.err then
  -- The stream is ahead of the counter (the counter alone was lost): continue above the stream.
  local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if #top == 0 then return redis.error_reply(added.err) end
  id = tonumber(string.match(top[1][1], '^(%d+)')) + 1
  redis.call('SET', KEYS[1], string.format('%d', id))
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], string.format('%d', id) .. '-0', 'e', ARGV[2], 'd', ARGV[3])
end
redis.call('PUBLISH', ARGV[1], string.format('%d', id) .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[3])
return id
`);

/**
 * Read. KEYS: counter, stream. ARGV: since, floor. Returns
 * {last, entries after since}: one atomic view, so `last` and the entries agree.
 * A counter below the floor is raised to it, so every server continues above it.
 */
export const READ = script(`
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[2])
if last < floor then
  last = floor
  redis.call('SET', KEYS[1], string.format('%d', last))
end
local since = tonumber(ARGV[1])
if since >= last then return {string.format('%d', last), {}} end
return {string.format('%d', last), redis.call('XRANGE', KEYS[2], string.format('%d', since + 1) .. '-0', '+')}
`);
