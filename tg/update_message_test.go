package tg

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sampleUpdate decodes testdata/updates/name.
func sampleUpdate(t *testing.T, name string) *Update {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "updates", name))
	if err != nil {
		t.Fatal(err)
	}
	var u Update
	if err := json.Unmarshal(data, &u); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &u
}

// TestUpdateMessage checks EffectiveMessage and NewMessage on real
// payloads of every kind that carries a message and of kinds that do not.
func TestUpdateMessage(t *testing.T) {
	// Selectors of the message each accessor must return (nil: none).
	none := func(*Update) *Message { return nil }
	message := func(u *Update) *Message { return u.Message }
	edited := func(u *Update) *Message { return u.EditedMessage }
	post := func(u *Update) *Message { return u.ChannelPost }
	editedPost := func(u *Update) *Message { return u.EditedChannelPost }
	business := func(u *Update) *Message { return u.BusinessMessage }
	editedBusiness := func(u *Update) *Message { return u.EditedBusinessMessage }
	guest := func(u *Update) *Message { return u.GuestMessage }
	button := func(u *Update) *Message { return u.CallbackQuery.Message.(*Message) }

	tests := []struct {
		file       string
		kind       string
		effective  func(*Update) *Message
		newMessage func(*Update) *Message
	}{
		{"001_message_command.json", KindMessage, message, message},
		{"004_message_text.json", KindMessage, message, message},
		{"027_message_document.json", KindMessage, message, message}, // an album part
		{"065_message_new_chat_members.json", KindMessage, message, message},
		{"095_edited_message_text.json", KindEditedMessage, edited, none},
		{"097_channel_post_text.json", KindChannelPost, post, post},
		{"098_edited_channel_post_text.json", KindEditedChannelPost, editedPost, none},
		{"100_business_message_text.json", KindBusinessMessage, business, business},
		{"101_edited_business_message_text.json", KindEditedBusinessMessage, editedBusiness, none},
		{"103_guest_message_text.json", KindGuestMessage, guest, none},
		{"113_callback_query.json", KindCallbackQuery, button, none}, // accessible message
		{"112_callback_query.json", KindCallbackQuery, none, none},   // from an inline message
		{"115_callback_query.json", KindCallbackQuery, none, none},   // inaccessible message (date 0)
		{"099_business_connection.json", KindBusinessConnection, none, none},
		{"102_deleted_business_messages.json", KindDeletedBusinessMessages, none, none},
		{"104_message_reaction.json", KindMessageReaction, none, none},
		{"107_message_reaction_count.json", KindMessageReactionCount, none, none},
		{"109_inline_query.json", KindInlineQuery, none, none},
		{"110_chosen_inline_result.json", KindChosenInlineResult, none, none},
		{"117_shipping_query.json", KindShippingQuery, none, none},
		{"118_pre_checkout_query.json", KindPreCheckoutQuery, none, none},
		{"119_purchased_paid_media.json", KindPurchasedPaidMedia, none, none},
		{"121_poll.json", KindPoll, none, none},
		{"122_poll_answer.json", KindPollAnswer, none, none},
		{"123_my_chat_member.json", KindMyChatMember, none, none},
		{"128_chat_member.json", KindChatMember, none, none},
		{"129_chat_join_request.json", KindChatJoinRequest, none, none},
		{"130_chat_boost.json", KindChatBoost, none, none},
		{"132_removed_chat_boost.json", KindRemovedChatBoost, none, none},
		{"134_managed_bot.json", KindManagedBot, none, none},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".json"), func(t *testing.T) {
			u := sampleUpdate(t, tt.file)
			if k := u.Kind(); k != tt.kind {
				t.Fatalf("sample is a %q update, want %q", k, tt.kind)
			}
			want := tt.effective(u)
			if got := u.EffectiveMessage(); got != want {
				t.Errorf("EffectiveMessage = %p, want %p", got, want)
			}
			if want != nil && u.Chat() != &want.Chat {
				t.Errorf("Chat is not the chat of EffectiveMessage")
			}
			if got, want := u.NewMessage(), tt.newMessage(u); got != want {
				t.Errorf("NewMessage = %p, want %p", got, want)
			}
		})
	}

	// Cases without a sample: a nil update, a callback query whose message
	// is absent, an unknown (newer) kind.
	m := &Message{MessageID: 5, Chat: Chat{ID: 7}}
	for name, u := range map[string]*Update{
		"nil update":            nil,
		"callback no message":   {UpdateID: 1, CallbackQuery: &CallbackQuery{ID: "q"}},
		"callback inaccessible": {UpdateID: 2, CallbackQuery: &CallbackQuery{ID: "q", Message: &InaccessibleMessage{Chat: Chat{ID: 7}}}},
		"no payload":            {UpdateID: 3},
	} {
		if got := u.EffectiveMessage(); got != nil {
			t.Errorf("%s: EffectiveMessage = %v, want nil", name, got)
		}
		if got := u.NewMessage(); got != nil {
			t.Errorf("%s: NewMessage = %v, want nil", name, got)
		}
	}
	u := &Update{CallbackQuery: &CallbackQuery{ID: "q", Message: m}}
	if got := u.EffectiveMessage(); got != m {
		t.Errorf("callback with its message: EffectiveMessage = %v, want %v", got, m)
	}
}

// TestUpdateMessageEverySample checks, on every sample, that
// EffectiveMessage is set exactly for the message kinds and callback
// queries with an accessible message, and NewMessage exactly for message,
// channel_post and business_message.
func TestUpdateMessageEverySample(t *testing.T) {
	messageKinds := map[string]bool{
		KindMessage: true, KindEditedMessage: true, KindChannelPost: true,
		KindEditedChannelPost: true, KindBusinessMessage: true,
		KindEditedBusinessMessage: true, KindGuestMessage: true,
	}
	newKinds := map[string]bool{KindMessage: true, KindChannelPost: true, KindBusinessMessage: true}
	for name := range samples(t) {
		u := sampleUpdate(t, name)
		k := u.Kind()
		wantEffective := messageKinds[k]
		if k == KindCallbackQuery {
			_, wantEffective = u.CallbackQuery.Message.(*Message)
		}
		if got := u.EffectiveMessage() != nil; got != wantEffective {
			t.Errorf("%s (%s): EffectiveMessage set %v, want %v", name, k, got, wantEffective)
		}
		if got := u.NewMessage() != nil; got != newKinds[k] {
			t.Errorf("%s (%s): NewMessage set %v, want %v", name, k, got, newKinds[k])
		}
	}
}
