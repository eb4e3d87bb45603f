package jetstream

import (
	"sync"
	"testing"

	"github.com/tidygram/tidygram/jetstream/internal/natstest"
	"github.com/tidygram/tidygram/leak/leaktest"
)

// Three instances opening the same spool at once on a fresh 3-node
// cluster, as replicas of a deployment start together: every Open sets up
// (or binds) the R3 stream and buckets and succeeds, although the server
// answers only one of several concurrent requests creating a new
// replicated stream.
func TestOpenConcurrently(t *testing.T) {
	leaktest.Check(t)
	nodes := natstest.Cluster(t, 3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	spools := make([]*Spool, 3)
	for i := range spools {
		wg.Go(func() {
			spools[i], errs[i] = Open(t.Context(), URL(natstest.URLs(nodes...)), Replicas(3), Instance(string(rune('a'+i))))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: Open: %v", i, err)
		}
	}
	for _, s := range spools {
		if s != nil {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}
	}
}
