package tg_test

import (
	"fmt"

	json "github.com/go-json-experiment/json/v1"
	"github.com/tidygram/tidygram/tg"
)

// A callback query's message is a MaybeInaccessibleMessage: a *tg.Message,
// or a *tg.InaccessibleMessage when the message is too old for the bot.
// Update's helpers name the kind, the chat and the sender of any update.
func ExampleUpdate() {
	data := []byte(`{"update_id":7,"callback_query":{"id":"42","chat_instance":"1",
		"from":{"id":1001,"is_bot":false,"first_name":"Ada"},
		"message":{"message_id":5,"date":0,"chat":{"id":-100200,"type":"supergroup","title":"Team"}},
		"data":"vote:yes"}}`)
	var u tg.Update
	if err := json.Unmarshal(data, &u); err != nil {
		panic(err)
	}
	fmt.Println(u.Kind(), u.Chat().ID, u.Sender().FirstName)
	switch m := u.CallbackQuery.Message.(type) {
	case *tg.Message:
		fmt.Println("message", m.MessageID)
	case *tg.InaccessibleMessage:
		fmt.Println("inaccessible message", m.MessageID)
	}
	// Output:
	// callback_query -100200 Ada
	// inaccessible message 5
}

// Union members fill in their discriminator; reply_markup takes any of the
// four keyboard kinds.
func ExampleReplyMarkup() {
	p := &tg.SendMessageParams{
		ChatID:      tg.Username("mychannel"),
		Text:        "Pick one",
		ReplyMarkup: &tg.ReplyKeyboardMarkup{Keyboard: [][]tg.KeyboardButton{{{Text: "A"}, {Text: "B"}}}, OneTimeKeyboard: true},
	}
	out, _ := json.Marshal(p)
	fmt.Println(string(out))
	r, _ := json.Marshal([]tg.ReactionType{&tg.ReactionTypeEmoji{Emoji: "👍"}})
	fmt.Println(string(r))
	// Output:
	// {"chat_id":"@mychannel","text":"Pick one","reply_markup":{"keyboard":[[{"text":"A"},{"text":"B"}]],"one_time_keyboard":true}}
	// [{"type":"emoji","emoji":"👍"}]
}
