package tg_test

import (
	"context"
	"testing"

	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// GetUpdatesFunc against the emulator: the updates a poller already holds
// are counted, not passed; the others are decoded whole, in order.
func TestGetUpdatesFuncSkips(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	c, err := tg.NewClient(srv.Token(), tg.WithBaseURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ids []int64
	for i := range 10 {
		id, err := srv.PushRaw([]byte(`{"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"text":"t` + string(rune('0'+i)) + `"}}`))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	held := map[int64]bool{ids[1]: true, ids[4]: true, ids[9]: true}
	var asked []int64
	var ups []*tg.Update
	skipped, err := c.GetUpdatesFunc(context.Background(), &tg.GetUpdatesParams{Limit: 8}, func(id int64) bool {
		asked = append(asked, id)
		return held[id]
	}, func(u *tg.Update) error {
		ups = append(ups, u)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 2 || len(ups) != 6 {
		t.Fatalf("skipped %d, passed %d; want 2 skipped (ids[1], ids[4]) and 6 passed of the limit of 8", skipped, len(ups))
	}
	if len(asked) != 8 {
		t.Fatalf("skip asked for %d ids, want one per element up to the limit (8)", len(asked))
	}
	want := []int64{ids[0], ids[2], ids[3], ids[5], ids[6], ids[7]}
	for i, u := range ups {
		if u.UpdateID != want[i] || u.Message == nil || u.Message.Chat.ID != 5 {
			t.Fatalf("update %d = %d %+v, want %d with its message", i, u.UpdateID, u.Message, want[i])
		}
	}
}
