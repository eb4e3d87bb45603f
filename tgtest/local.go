package tgtest

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// LocalUploadLimit is the upload cap of a local Bot API server (2000 MB),
// the default of WithUploadLimit under WithLocalMode.
const LocalUploadLimit = 2000 << 20

// WithLocalMode makes the server behave like a local Bot API server
// started with --local (tdlib/telegram-bot-api): getFile answers the
// absolute path of the file on this machine as file_path, with no size
// limit, and serves no download of it over HTTP (/file/… answers 404 for
// such a path, as the real server does); uploads are capped at
// LocalUploadLimit unless WithUploadLimit says otherwise; and an InputFile
// may name a local file by its absolute path or a file:// URI. Default:
// the cloud Bot API's behaviour.
func WithLocalMode() Option { return func(c *config) { c.local = true } }

// localFile resolves v as a local file reference in local mode: an
// absolute path or a file:// URI; ok is false when v is neither.
func (rq *request) localFile(v string) (f *storedFile, ok bool, err error) {
	if !rq.s.cfg.local {
		return nil, false, nil
	}
	p := v
	if rest, isURI := strings.CutPrefix(v, "file://"); isURI {
		u, perr := url.Parse("file://" + rest)
		if perr != nil {
			return nil, true, badRequest("wrong file URI specified")
		}
		p = u.Path
	}
	if !filepath.IsAbs(p) {
		return nil, false, nil
	}
	fh, oerr := os.Open(p)
	if oerr != nil {
		return nil, true, badRequest("file not found: " + filepath.Base(p))
	}
	defer fh.Close()
	f, err = rq.s.files.save(fh, filepath.Base(p), "application/octet-stream", rq.s.cfg.uploadLimit)
	if err != nil {
		return nil, true, err
	}
	if rq.files == nil {
		rq.files = map[string]*storedFile{}
	}
	rq.files["\x00local:"+p] = f // finish commits or discards it with the uploads
	rq.use(f)
	return f, true, nil
}
