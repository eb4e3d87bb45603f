// Package jetstream is the NATS JetStream spool of tidygram: a durable
// queue between a bot's update source and its handlers, and the shared
// state that lets N instances of one bot run as one.
package jetstream
