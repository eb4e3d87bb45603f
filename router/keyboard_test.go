package router

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tidygram/tidygram/tg"
)

func buttons(n int) []tg.InlineKeyboardButton {
	bs := make([]tg.InlineKeyboardButton, n)
	for i := range bs {
		bs[i] = CallbackButton(fmt.Sprint(i+1), fmt.Sprint(i+1))
	}
	return bs
}

// shape returns the row lengths of rows, like "2 3 1".
func shape[B Button](rows [][]B) string {
	var s []string
	for _, r := range rows {
		s = append(s, fmt.Sprint(len(r)))
	}
	return strings.Join(s, " ")
}

func TestGrid(t *testing.T) {
	tests := []struct {
		n     int
		sizes []int
		want  string
	}{
		{0, []int{2}, ""},
		{1, []int{2}, "1"},
		{5, []int{2}, "2 2 1"},
		{6, []int{2, 3, 1}, "2 3 1"},
		{9, []int{2, 3, 1}, "2 3 1 1 1 1"},
		{4, []int{2, 3, 1}, "2 2"},
		{7, []int{3, 2}, "3 2 2"},
		{3, nil, "1 1 1"},
		{10, []int{8}, "8 2"},
	}
	for _, tt := range tests {
		rows := Grid(buttons(tt.n), tt.sizes...)
		if got := shape(rows); got != tt.want {
			t.Errorf("Grid(%d buttons, %v) = %q, want %q", tt.n, tt.sizes, got, tt.want)
		}
		// Order kept.
		i := 1
		for _, r := range rows {
			for _, b := range r {
				if b.Text != fmt.Sprint(i) {
					t.Fatalf("Grid(%d, %v): button %q at place %d", tt.n, tt.sizes, b.Text, i)
				}
				i++
			}
		}
	}
	if got := shape(Columns(3, TextButton("a"), TextButton("b"), TextButton("c"), TextButton("d"))); got != "3 1" {
		t.Errorf("Columns(3, 4 reply buttons) = %q", got)
	}
	// Rows do not share backing arrays: appending to one leaves the next.
	rows := Grid(buttons(4), 2)
	_ = append(rows[0], CallbackButton("x", "x"))
	if rows[1][0].Text != "3" {
		t.Error("appending to a row overwrote the next")
	}
}

func TestGridPanicsOnBadSize(t *testing.T) {
	for _, sizes := range [][]int{{0}, {2, -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Grid(%v) did not panic", sizes)
				}
			}()
			Grid(buttons(3), sizes...)
		}()
	}
}

// Each markup builder gives the markup type that the reply_markup of every
// send method takes, encoded as the Bot API describes it.
func TestMarkupsFitEveryMethod(t *testing.T) {
	tests := []struct {
		name string
		m    tg.ReplyMarkup
		want string
	}{
		{"inline", InlineKeyboard(Columns(2, buttons(3)...)...),
			`{"inline_keyboard":[[{"text":"1","callback_data":"1"},{"text":"2","callback_data":"2"}],[{"text":"3","callback_data":"3"}]]}`},
		{"reply", ReplyKeyboard(Row(TextButton("Yes"), PollButton("Quiz", "quiz"))),
			`{"keyboard":[[{"text":"Yes"},{"text":"Quiz","request_poll":{"type":"quiz"}}]],"resize_keyboard":true}`},
		{"remove", RemoveKeyboard(), `{"remove_keyboard":true}`},
		{"force reply", ForceReply(""), `{"force_reply":true}`},
	}
	for _, tt := range tests {
		for _, p := range []any{
			&tg.SendMessageParams{ReplyMarkup: tt.m},
			&tg.SendPhotoParams{ReplyMarkup: tt.m},
			&tg.SendDocumentParams{ReplyMarkup: tt.m},
			&tg.SendLocationParams{ReplyMarkup: tt.m},
		} {
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(b, &fields); err != nil {
				t.Fatal(err)
			}
			if got := string(fields["reply_markup"]); got != tt.want {
				t.Errorf("%s in %T: %s, want %s", tt.name, p, got, tt.want)
			}
		}
	}
}
