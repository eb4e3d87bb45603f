package boltstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/session/boltstore"
)

// A file-backed store keeps sessions across restarts. The bot's Run owns
// the janitor that purges expired values.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "sessions")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sessions.db")
	ctx := context.Background()

	store, err := boltstore.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	sess := session.New[[]string](store)
	_ = sess.Save(ctx, sess.Key(1, 2), []string{"tea", "milk"})
	_ = store.Close() // the process restarts

	store, err = boltstore.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	runCtx, stop := context.WithCancel(ctx)
	janitorDone := make(chan error, 1)
	go func() { janitorDone <- store.Janitor(runCtx, time.Minute) }()

	items, _ := session.New[[]string](store).Load(ctx, sess.Key(1, 2))
	fmt.Println(items)

	stop()
	fmt.Println("janitor:", <-janitorDone)
	// Output:
	// [tea milk]
	// janitor: <nil>
}
