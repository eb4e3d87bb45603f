// Package jetstream is the NATS JetStream spool of tidygram: a durable
// queue between a bot's update source and its handlers, and the shared
// state that lets N instances of one bot run as one.
//
//	s, err := jetstream.Open(ctx, jetstream.Embedded("/var/lib/mybot/spool"))
//	…
//	bot, err := tidygram.New(token, tidygram.WithSpool(s))
//	err = bot.Run(ctx)
//	s.Close() // after Run returned
//
// Embedded runs nats-server in the process (no other process to run); URL
// connects to an external cluster, where several instances of the bot share
// the spool: exactly one polls Telegram (Lead), each handles a share of the
// chats (Consume), and every one may Put (webhooks).
//
// # Layout
//
// One stream, <name> (default TIDYGRAM), subjects <name>.u.<partition>:
// Put publishes each update to the partition of its chat (a fixed hash of
// spool.Lane modulo Partitions, default 16), with Nats-Msg-Id = update_id
// so that a second Put within DedupeWindow is acknowledged and not stored.
// Two KV buckets: <name>_leases (MaxAge = LeaseTTL: member.<instance>,
// part.<partition>, poll) and <name>_state (wm.<partition>: the committed
// watermark and high-water mark; layout: the partition count).
//
// # How partitions are shared (and why this way)
//
// Like a Kafka consumer group: each instance that consumes heartbeats
// member.<instance>; it takes free partitions (KV Create of part.<p>, which
// fails while another holds it) up to ceil(Partitions / live members) and
// gives up those above; it renews its leases (revision-checked Update)
// every LeaseTTL/3. A partition is read by one ordered consumer from its
// committed watermark, in stream order, each delivery after deliver
// returned for the one before; a delivery's Done(true) marks it done, and
// the lowest not-done delivery bounds the watermark, committed every 100 ms
// (revision-checked, only while the lease is held). A partition given up
// stops being read, waits until every delivery of it is Done (at most
// ReleaseWait), commits its watermark, and only then deletes its lease:
// the next owner starts where every handler of the previous one has
// ended, so per-chat order holds across a handover by construction. An
// instance that stops renewing (a crash, a cut connection) stops
// delivering LeaseTTL·4/5 after its last successful renewal was sent,
// before the server can expire the lease (LeaseTTL after it was written);
// another instance takes the partition within about LeaseTTL + LeaseTTL/3
// and reads from the last committed watermark.
//
// The alternatives, and why not:
//
//   - A JetStream consumer per partition with a priority group and the
//     pinned_client policy (NATS ≥ 2.11, ADR-42): the server pins one
//     pulling client and moves the pin after PinnedTTL without pulls; which
//     client is pinned is the server's choice, and messages the old pin
//     had not acknowledged come back only after AckWait — possibly after
//     newer messages of the same chat went to the new pin, unless the
//     consumer allows one unacknowledged message (MaxAckPending 1).
//   - orbit.go's pcgroups (partitioned consumer groups on priority groups):
//     strict order comes from MaxAckPending 1 on the member's consumer, so
//     one message in flight per member; the chats sharing it (a
//     flood-limited group waiting a second between messages) wait on each
//     other. Membership is a list kept in a KV config by an administrator
//     (elastic groups add a second, work-queue stream), not the instances
//     that are alive.
//
// Our rule is that per-chat order holds across failover by construction
// and that one slow chat holds back others only when MaxInHand (default
// 10,000) updates of this instance are not Done: the bot's per-chat lanes
// run different chats in parallel. Watermarks allow many deliveries in
// flight per partition, in any completion order, and the handover waits
// for them.
//
// # Guarantees and limits
//
//   - Put returns nil once the stream stored the update. Embedded (R1):
//     the server wrote it to its file before answering, so it survives a
//     crash or SIGKILL of the process; it reaches the disk at the next
//     fsync, every SyncInterval (default 2 min, nats-server's
//     sync_interval), or before the answer with SyncAlways (a power loss
//     then loses nothing). With Replicas(3) a majority of nodes holds it
//     before the answer; the cluster's sync settings are its own.
//   - At least once: an update is delivered until its Done(true) is
//     committed. Deliveries that may have happened before (at or below the
//     high-water mark the previous owners recorded before delivering) are
//     flagged Redelivered; after a crash that may include a few updates
//     that were never delivered (the mark is reserved ahead, up to the
//     stream's last sequence). Done(false), and deliveries the bot refused
//     (stopping), keep the watermark below them: the next owner delivers
//     them and every later update of their partition again, flagged.
//   - Per-chat order: one owner per partition at a time, stream order
//     within it. Only when a handover times out (ReleaseWait) or an owner
//     is cut off while its handlers still run may a chat's update run
//     while an earlier one still does; the later owner's deliveries of
//     such updates are flagged Redelivered.
//   - Retention: the stream keeps updates MaxAge (default 24 h) and
//     MaxBytes (default 1 GiB, then Put fails: nothing stored is dropped
//     to make room); each owner purges its partitions below their
//     committed watermarks every few seconds, so the stream holds what
//     is not yet done.
//   - All instances of one bot must use the same Name, Partitions (Open
//     refuses a different count) and LeaseTTL, and distinct Instance ids.
//   - Goroutines: Open starts two (the leases watcher and the keeper, which
//     renews, commits and purges every 100 ms on short-lived goroutines),
//     Consume one per held partition; Close ends all of them and those of
//     the connection and the embedded server.
//
// # What it owns and never does
//
// A Spool owns its NATS connection, the embedded server when Embedded
// started one, its goroutines (above) and its leases; the stream and the
// two buckets are shared by every instance of the bot. It never commits
// a partition's watermark past an update whose handler has not reported
// Done (and purges only below the committed watermark), never drops a
// stored update to make room, never deletes the stream or the buckets
// (Close leaves them for the next start), and never polls Telegram or
// runs a handler itself: the bot does both through the spool.Spool
// interface.
package jetstream
