-- Appends emitted events to the fan-out stream, in order. A durable event whose id was appended
-- within the dedup window is not appended again: a batch is retried as a whole after an
-- ambiguous failure, and the streams tell their duplicates apart by fan-out entry id.
--
-- KEYS: the fan-out stream
-- ARGV: [1] fan-out window (entries; trimmed approximately), [2] dedup window s,
--       [3] prefix of the "already appended" keys, then per event: its id ('' for an ephemeral
--       event, never de-duplicated), the envelope's text
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  if id == '' or redis.call('SET', ARGV[3] .. id, '1', 'NX', 'EX', ARGV[2]) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i + 1])
  end
end
return 0
