package poller

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTrackerWatermark(t *testing.T) {
	type step struct {
		op   string // take, finish
		id   int64
		ok   bool  // take's result
		want int64 // watermark after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{
			{"take", 10, true, 10}, {"take", 11, true, 10}, {"finish", 10, false, 11}, {"finish", 11, false, 12},
		}},
		{"out of order keeps the lowest", []step{
			{"take", 10, true, 10}, {"take", 11, true, 10}, {"take", 12, true, 10},
			{"finish", 12, false, 10}, {"finish", 11, false, 10}, {"finish", 10, false, 13},
		}},
		{"redelivery skipped", []step{
			{"take", 5, true, 5}, {"take", 6, true, 5}, {"finish", 6, false, 5},
			{"take", 5, false, 5}, {"take", 6, false, 5}, {"take", 7, true, 5},
			{"finish", 5, false, 7}, {"take", 6, false, 7}, {"finish", 7, false, 8},
		}},
		{"gaps in ids", []step{
			{"take", 100, true, 100}, {"take", 150, true, 100}, {"finish", 100, false, 150}, {"finish", 150, false, 151},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker()
			if w := tr.watermark(); w != 0 {
				t.Fatalf("fresh watermark = %d, want 0 (no offset)", w)
			}
			for i, s := range tt.steps {
				switch s.op {
				case "take":
					if got := tr.take(s.id); got != s.ok {
						t.Fatalf("step %d: take(%d) = %v, want %v", i, s.id, got, s.ok)
					}
				case "finish":
					tr.finish(s.id)
				}
				if w := tr.watermark(); w != s.want {
					t.Fatalf("step %d (%s %d): watermark = %d, want %d", i, s.op, s.id, w, s.want)
				}
			}
			if live := tr.ids[tr.head:]; len(live) > 0 && tr.inFlight() == 0 {
				t.Fatalf("done ids not dropped: %v", live)
			}
		})
	}
}

func TestTrackerUnhandledHoldsWatermark(t *testing.T) {
	tr := newTracker()
	tr.take(1)
	tr.take(2)
	tr.take(3)
	tr.finish(1)
	tr.finish(3)
	// 2 was dropped at stop: it never finishes, so it is never confirmed.
	if w := tr.watermark(); w != 2 {
		t.Fatalf("watermark = %d, want 2", w)
	}
	if n := tr.next(); n != 4 {
		t.Fatalf("at-most-once offset = %d, want 4", n)
	}
}

func TestTrackerWaits(t *testing.T) {
	fired := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	tr := newTracker()
	if !fired(tr.waitIdle()) {
		t.Fatal("waitIdle did not fire with nothing in flight")
	}
	tr.take(1)
	tr.take(2)
	idle := tr.waitIdle()
	room := tr.waitRoom(3, 2)
	if room == nil || fired(idle) || fired(room) {
		t.Fatal("waits fired with two updates in flight")
	}
	tr.finish(2)
	if fired(idle) {
		t.Fatal("waitIdle fired with an update still in flight")
	}
	if fired(room) { // 1 in flight + 1 done above the watermark: 1 of 3 free
		t.Fatal("waitRoom(3, 2) fired with two of three taken: the waiter is woken for nothing")
	}
	tr.finish(1)
	if !fired(idle) {
		t.Fatal("waitIdle did not fire when the last update finished")
	}
	if !fired(room) {
		t.Fatal("waitRoom(3, 2) did not fire when the window emptied")
	}
	if tr.waitRoom(3, 3) != nil {
		t.Fatal("waitRoom(3, 3) reported no room with an empty window")
	}
}

// A long run in order and out of order: the watermark is always the lowest
// unfinished id, redeliveries are refused, and the tracker holds no more
// than the window.
func TestTrackerWindow(t *testing.T) {
	tr := newTracker()
	const window = 100
	next, low := int64(1), int64(1)
	finished := map[int64]bool{}
	for round := range 200 {
		for tr.inFlight() < window {
			if !tr.take(next) {
				t.Fatalf("take(%d) refused", next)
			}
			next++
		}
		// Finish every id but the lowest few, newest first, then those.
		for id := next - 1; id >= low+3; id-- {
			if !finished[id] {
				tr.finish(id)
				finished[id] = true
			}
		}
		if w := tr.watermark(); w != low {
			t.Fatalf("round %d: watermark %d, want %d", round, w, low)
		}
		if tr.take(low+5) || !tr.known(low+5) || !tr.known(low) || tr.known(next) {
			t.Fatalf("round %d: redelivery of a done or in-flight id taken, or an unseen one known", round)
		}
		for id := low; id < low+3; id++ {
			tr.finish(id)
		}
		low = next
		if w := tr.watermark(); w != low {
			t.Fatalf("round %d: watermark %d after finishing all, want %d", round, w, low)
		}
		if tr.take(low - 1) {
			t.Fatalf("round %d: take of a confirmed id", round)
		}
		if c := cap(tr.ids); c > 2*window {
			t.Fatalf("round %d: %d entries held, window %d", round, c, window)
		}
	}
}

// BenchmarkTracker takes one update and finishes one per op, 16 in
// flight, finished out of order (pairwise swapped), as workers do.
func BenchmarkTracker(b *testing.B) {
	tr := newTracker()
	const lag = 16
	id := int64(1)
	for ; id <= lag; id++ {
		tr.take(id)
	}
	b.ReportAllocs()
	for b.Loop() {
		k := id - lag
		if k%2 == 1 {
			tr.finish(k + 1)
		} else {
			tr.finish(k - 1)
		}
		tr.take(id)
		id++
	}
	if n := len(tr.ids) - tr.head; n > lag+2 {
		b.Fatalf("%d ids held, want at most %d", n, lag+2)
	}
}
