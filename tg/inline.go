package tg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Builders of the common inline query results. Each returns the generated
// type with its required fields set; set optional fields on the value
// (Description, ReplyMarkup, Caption, …) before answering:
//
//	a := tg.InlineArticle("1", "Cats", "Cats are great")
//	a.Description = "a fact"
//	err := client.AnswerInline(ctx, q.ID, []tg.InlineQueryResult{a, tg.InlineCachedPhoto("2", fileID)})
//
// Result ids must be unique within an answer and 1–64 bytes long;
// AnswerInline checks both.

// InlineArticle is an article whose choice sends text as a message.
func InlineArticle(id, title, text string) *InlineQueryResultArticle {
	return &InlineQueryResultArticle{ID: id, Title: title, InputMessageContent: &InputTextMessageContent{MessageText: text}}
}

// InlinePhoto is a JPEG photo at photoURL (at most 5 MB) with its
// thumbnail at thumbURL.
func InlinePhoto(id, photoURL, thumbURL string) *InlineQueryResultPhoto {
	return &InlineQueryResultPhoto{ID: id, PhotoURL: photoURL, ThumbnailURL: thumbURL}
}

// InlineCachedPhoto is a photo already on Telegram's servers.
func InlineCachedPhoto(id, fileID string) *InlineQueryResultCachedPhoto {
	return &InlineQueryResultCachedPhoto{ID: id, PhotoFileID: fileID}
}

// InlineGif is an animated GIF at gifURL with its thumbnail at thumbURL.
func InlineGif(id, gifURL, thumbURL string) *InlineQueryResultGif {
	return &InlineQueryResultGif{ID: id, GifURL: gifURL, ThumbnailURL: thumbURL}
}

// InlineVideo is a video at videoURL ("text/html" or "video/mp4" as
// mimeType) with its thumbnail at thumbURL.
func InlineVideo(id, title, videoURL, mimeType, thumbURL string) *InlineQueryResultVideo {
	return &InlineQueryResultVideo{ID: id, Title: title, VideoURL: videoURL, MimeType: mimeType, ThumbnailURL: thumbURL}
}

// InlineAudio is an MP3 audio file at audioURL.
func InlineAudio(id, title, audioURL string) *InlineQueryResultAudio {
	return &InlineQueryResultAudio{ID: id, Title: title, AudioURL: audioURL}
}

// InlineDocument is a PDF or ZIP file at documentURL ("application/pdf"
// or "application/zip" as mimeType).
func InlineDocument(id, title, documentURL, mimeType string) *InlineQueryResultDocument {
	return &InlineQueryResultDocument{ID: id, Title: title, DocumentURL: documentURL, MimeType: mimeType}
}

// InlineCachedDocument is a file already on Telegram's servers.
func InlineCachedDocument(id, title, fileID string) *InlineQueryResultCachedDocument {
	return &InlineQueryResultCachedDocument{ID: id, Title: title, DocumentFileID: fileID}
}

// InlineCachedSticker is a sticker already on Telegram's servers.
func InlineCachedSticker(id, fileID string) *InlineQueryResultCachedSticker {
	return &InlineQueryResultCachedSticker{ID: id, StickerFileID: fileID}
}

// InlineLocation is a point on the map.
func InlineLocation(id, title string, latitude, longitude float64) *InlineQueryResultLocation {
	return &InlineQueryResultLocation{ID: id, Title: title, Latitude: latitude, Longitude: longitude}
}

// InlineVenue is a place with an address.
func InlineVenue(id, title, address string, latitude, longitude float64) *InlineQueryResultVenue {
	return &InlineQueryResultVenue{ID: id, Title: title, Address: address, Latitude: latitude, Longitude: longitude}
}

// InlineContact is a phone contact.
func InlineContact(id, phoneNumber, firstName string) *InlineQueryResultContact {
	return &InlineQueryResultContact{ID: id, PhoneNumber: phoneNumber, FirstName: firstName}
}

// MaxInlineResults is the most results one answerInlineQuery may carry.
const MaxInlineResults = 50

// ErrInlineResults is wrapped by AnswerInline's error for results Telegram
// would refuse: more than MaxInlineResults, an id empty or over 64 bytes,
// the same id twice, or a nil result.
var ErrInlineResults = errors.New("tg: invalid inline query results")

// AnswerInline answers the inline query queryID with results (at most
// MaxInlineResults; see InlinePage for more), checked before the call
// (ErrInlineResults). opts set the other parameters (CacheTime,
// IsPersonal, NextOffset, Button):
//
//	err := c.AnswerInline(ctx, q.ID, page, func(p *tg.AnswerInlineQueryParams) { p.NextOffset = next })
//
// Telegram expects an answer within about 10 seconds of the query; a late
// one fails with an error matching ErrQueryTooOld.
func (c *Client) AnswerInline(ctx context.Context, queryID string, results []InlineQueryResult, opts ...func(*AnswerInlineQueryParams)) error {
	if err := checkInlineResults(results); err != nil {
		return err
	}
	if results == nil {
		results = []InlineQueryResult{} // "results" is required: an empty answer is []
	}
	p := &AnswerInlineQueryParams{InlineQueryID: queryID, Results: results}
	for _, o := range opts {
		o(p)
	}
	return c.Call(ctx, "answerInlineQuery", p, nil)
}

func checkInlineResults(results []InlineQueryResult) error {
	if len(results) > MaxInlineResults {
		return fmt.Errorf("%w: %d results, at most %d", ErrInlineResults, len(results), MaxInlineResults)
	}
	seen := make(map[string]bool, len(results))
	for i, r := range results {
		id, ok := inlineResultID(r)
		switch {
		case !ok:
			return fmt.Errorf("%w: result %d is nil", ErrInlineResults, i)
		case id == "" || len(id) > 64:
			return fmt.Errorf("%w: result %d: id %q must be 1-64 bytes", ErrInlineResults, i, id)
		case seen[id]:
			return fmt.Errorf("%w: result %d: id %q used twice", ErrInlineResults, i, id)
		}
		seen[id] = true
	}
	return nil
}

// inlineResultID returns the id of r; ok is false for a nil result. An
// unknown result type's id is not checked (returned as "?").
func inlineResultID(r InlineQueryResult) (id string, ok bool) {
	switch v := r.(type) {
	case nil:
		return "", false
	case *InlineQueryResultArticle:
		return v.ID, v != nil
	case *InlineQueryResultPhoto:
		return v.ID, v != nil
	case *InlineQueryResultCachedPhoto:
		return v.ID, v != nil
	case *InlineQueryResultGif:
		return v.ID, v != nil
	case *InlineQueryResultVideo:
		return v.ID, v != nil
	case *InlineQueryResultAudio:
		return v.ID, v != nil
	case *InlineQueryResultDocument:
		return v.ID, v != nil
	case *InlineQueryResultCachedDocument:
		return v.ID, v != nil
	case *InlineQueryResultCachedSticker:
		return v.ID, v != nil
	case *InlineQueryResultLocation:
		return v.ID, v != nil
	case *InlineQueryResultVenue:
		return v.ID, v != nil
	case *InlineQueryResultContact:
		return v.ID, v != nil
	}
	return "?", true
}

// InlinePage returns the page of results an inline query with offset
// asks for (offset is the query's Offset: "" for the first page, then the
// next_offset of the previous answer), at most size results (1 to
// MaxInlineResults; out of range means MaxInlineResults), and the
// next_offset to answer with ("" on the last page, which ends the
// scrolling). An offset that is not one InlinePage made gives the first
// page.
//
//	page, next := tg.InlinePage(all, q.Offset, 20)
//	err := c.AnswerInline(ctx, q.ID, page, func(p *tg.AnswerInlineQueryParams) { p.NextOffset = next })
func InlinePage(results []InlineQueryResult, offset string, size int) (page []InlineQueryResult, next string) {
	if size <= 0 || size > MaxInlineResults {
		size = MaxInlineResults
	}
	start, err := strconv.Atoi(offset)
	if err != nil || start < 0 || start > len(results) {
		start = 0
	}
	end := min(start+size, len(results))
	if end < len(results) {
		next = strconv.Itoa(end)
	}
	return results[start:end], next
}
