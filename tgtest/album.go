package tgtest

import (
	"errors"
	"strconv"
)

// MaxAlbum is the most media a Telegram client puts in one album (media
// group).
const MaxAlbum = 10

// Media is one part of an album a simulated user sends: a photo (Photo
// set: PNG, JPEG or GIF bytes) or else a document (Name and Data).
type Media struct {
	Photo   []byte
	Name    string
	Data    []byte
	Caption string
}

// SendAlbum sends items (1 to MaxAlbum) as one album in the private chat:
// one message update per part, all with the same new media_group_id, as
// Telegram delivers an album. The bot can getFile and download each part.
func (u *SimUser) SendAlbum(items ...Media) ([]Message, error) {
	return u.SendAlbumTo(nil, items...)
}

// SendAlbumTo sends an album in group g (nil: the private chat).
func (u *SimUser) SendAlbumTo(g *SimGroup, items ...Media) ([]Message, error) {
	if len(items) == 0 || len(items) > MaxAlbum {
		return nil, errors.New("tgtest: an album has 1 to 10 parts, got " + strconv.Itoa(len(items)))
	}
	group := strconv.FormatInt(13_000_000_000_000_000+u.s.misc.nextID(), 10)
	return u.AddToAlbum(g, group, items...)
}

// AddToAlbum sends more parts of the album mediaGroupID in g (nil: the
// private chat), as a client does when an upload of the album comes late.
// It does not check the album's size: a test may send more than MaxAlbum
// parts under one id.
func (u *SimUser) AddToAlbum(g *SimGroup, mediaGroupID string, items ...Media) ([]Message, error) {
	c, err := u.in(g)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(items))
	for _, it := range items {
		m := &Message{MediaGroupID: mediaGroupID, Caption: it.Caption}
		if it.Photo != nil {
			f, err := u.s.files.saveBytes(it.Photo, "photo.jpg", "image/jpeg")
			if err != nil {
				return out, err
			}
			m.Photo = f.photo()
		} else {
			f, err := u.s.files.saveBytes(it.Data, it.Name, "application/octet-stream")
			if err != nil {
				return out, err
			}
			m.Document = f.document()
		}
		sent, err := u.post(c, m)
		if err != nil {
			return out, err
		}
		out = append(out, sent)
	}
	return out, nil
}
