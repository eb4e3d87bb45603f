package jetstream

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram/spool"
)

// BenchmarkPut: one Put (publish, PubAck) on an embedded server, from 8
// goroutines; SyncAlways fsyncs each.
func BenchmarkPut(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []Option
	}{{"default", nil}, {"SyncAlways", []Option{SyncAlways()}}} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b, append([]Option{Embedded(b.TempDir())}, bc.opts...)...)
			var id atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := id.Add(1)
					if err := s.Put(context.Background(), update(n, n%100, n)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPutConsume: updates put and delivered, each Done at once; an
// op is one update through the spool (Put, delivery, Done, watermark).
func BenchmarkPutConsume(b *testing.B) {
	s := open(b, Embedded(b.TempDir()))
	var got atomic.Int64
	all := make(chan struct{})
	total := int64(b.N)
	stop := consume(b, s, func(_ context.Context, d *spool.Delivery) error {
		d.Done(true)
		if got.Add(1) == total {
			close(all)
		}
		return nil
	})
	b.ResetTimer()
	var id atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := id.Add(1)
			if err := s.Put(context.Background(), update(n, n%100, n)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d delivered within a minute", got.Load(), total)
	}
	b.StopTimer()
	if err := stop(); err != nil {
		b.Fatal(err)
	}
}
