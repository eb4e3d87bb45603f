package executor

import (
	"context"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/router"
)

// minBackgroundWait is how long background work gets after its context is
// cancelled when the drain period is already over.
const minBackgroundWait = 100 * time.Millisecond

// scope owns background work started with Context.Go: it labels it, hands
// it a context cancelled at stop, and waits for it.
type scope struct {
	spawn  router.Spawner // s.start, made once
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
}

func (s *scope) init(parent context.Context) {
	s.ctx, s.cancel = context.WithCancel(parent)
	s.spawn = s.start
}

// start is the Spawner of Context.Go for a handler running with
// handlerCtx: the goroutine keeps the handler's labels (handler, update_id,
// chat_id) with component "background", and runs with the scope's context.
func (s *scope) start(handlerCtx context.Context, fn func(context.Context)) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return router.ErrNotRunning // the bot has stopped: nothing may start
	}
	s.wg.Add(1)
	s.mu.Unlock()
	var kv []string
	pprof.ForLabels(handlerCtx, func(k, v string) bool {
		if k != leak.LabelComponent {
			kv = append(kv, k, v)
		}
		return true
	})
	kv = append(kv, leak.LabelComponent, "background")
	ctx := pprof.WithLabels(s.ctx, pprof.Labels(kv...))
	go func() {
		defer s.wg.Done()
		pprof.SetGoroutineLabels(ctx)
		fn(ctx)
	}()
	return nil
}

// close refuses new work, cancels the running work's context and waits
// for it until deadline (at least minBackgroundWait from now). Work that
// ignores its context is left running (and reported by the leftover check).
func (s *scope) close(deadline time.Time) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(max(time.Until(deadline), minBackgroundWait))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
