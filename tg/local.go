package tg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of a Client in local mode (WithLocalServer).
const (
	// LocalMaxDownloadBytes caps Download in local mode (2000 MB, the
	// largest file a local Bot API server takes in an upload; it serves
	// larger ones it got otherwise only when WithMaxDownloadBytes says so).
	LocalMaxDownloadBytes = 2000 << 20
	// LocalMaxUploadBytes is the largest upload a local Bot API server
	// accepts (2000 MB; the cloud Bot API: 50 MB). The Client streams
	// uploads of any size; the server refuses larger ones.
	LocalMaxUploadBytes = 2000 << 20
	// LocalResponseHeaderTimeout is the response header timeout in local
	// mode (30 min): a local server answers an upload only after it has
	// passed the file on to Telegram, which for 2000 MB takes minutes.
	LocalResponseHeaderTimeout = 30 * time.Minute
)

// ErrLocalPath is wrapped by the error of a local-mode Download whose path
// lies outside the server's directory given to WithLocalFiles.
var ErrLocalPath = errors.New("tg: file path outside the local Bot API server's directory")

// localFiles is the local-mode configuration of a Client.
type localFiles struct {
	on        bool
	serverDir string // WithLocalFiles: the server's working directory …
	localDir  string // … and where this process sees it
}

// WithLocalServer puts the Client in local mode, for a Bot API server
// started with --local (tdlib/telegram-bot-api; give its address with
// WithBaseURL):
//
//   - Download and DownloadFile read an absolute file_path (as getFile
//     answers it in that mode) from disk, streamed and capped, instead of
//     requesting it over HTTP, which such a server does not serve; a
//     relative path is still downloaded over HTTP.
//   - The download cap defaults to LocalMaxDownloadBytes (2000 MB) and
//     the response header timeout to LocalResponseHeaderTimeout (30 min),
//     unless WithMaxDownloadBytes or WithResponseHeaderTimeout say
//     otherwise.
//   - Uploads may name a file on the server's machine (LocalFile) and may
//     be up to LocalMaxUploadBytes; they are streamed as ever.
//
// Only use it with a local server you run: in local mode the Client reads
// any absolute path handed to Download from this machine's disk (limit that
// with WithLocalFiles).
func WithLocalServer() Option { return func(o *options) { o.local.on = true } }

// WithLocalFiles is WithLocalServer for a server whose files this process
// sees under another directory (the server in another container): an
// absolute file_path under serverDir (the server's --dir, e.g.
// "/var/lib/telegram-bot-api") is read from the same place under localDir
// (where that volume is mounted here). A path outside serverDir, or one
// that leaves it with "..", is refused with an error wrapping ErrLocalPath
// and nothing is read. Both directories must be absolute; serverDir ==
// localDir limits reads to that directory.
func WithLocalFiles(serverDir, localDir string) Option {
	return func(o *options) {
		o.local = localFiles{on: true, serverDir: serverDir, localDir: localDir}
	}
}

// applyLocal checks the local-mode options and sets its defaults.
func (o *options) applyLocal() error {
	if !o.local.on {
		return nil
	}
	if o.local.serverDir != "" || o.local.localDir != "" {
		if !path.IsAbs(o.local.serverDir) || !filepath.IsAbs(o.local.localDir) {
			return fmt.Errorf("tg: WithLocalFiles(%q, %q): both directories must be absolute", o.local.serverDir, o.local.localDir)
		}
		o.local.serverDir = path.Clean(o.local.serverDir)
		o.local.localDir = filepath.Clean(o.local.localDir)
	}
	if !o.downloadSet {
		o.maxDownload = LocalMaxDownloadBytes
	}
	if !o.headerSet {
		o.headerTimeout = LocalResponseHeaderTimeout
	}
	return nil
}

// LocalFile refers to the file at path on the local Bot API server's
// machine (a file:// URI; see WithLocalServer): the server reads it
// itself, so no byte passes through the Client. path is as the server
// sees it. Only a server in --local mode accepts it.
func LocalFile(path string) *InputFile { return &InputFile{ref: "file://" + path} }

// isLocalPath reports whether p is an absolute file_path of a --local
// server.
func isLocalPath(p string) bool { return strings.HasPrefix(p, "/") || filepath.IsAbs(p) }

// resolve returns where this process reads the server's file p.
func (l localFiles) resolve(p string) (string, error) {
	if l.serverDir == "" {
		return filepath.Clean(p), nil
	}
	clean := path.Clean(p)
	rel, ok := strings.CutPrefix(clean, l.serverDir)
	if !ok || rel != "" && rel[0] != '/' && l.serverDir != "/" {
		return "", fmt.Errorf("tg: download: %q: %w (%s)", p, ErrLocalPath, l.serverDir)
	}
	return filepath.Join(l.localDir, filepath.FromSlash(rel)), nil
}

// downloadLocal streams the local file of the server's path p to w, at
// most the download cap; ctx is checked between reads.
func (c *Client) downloadLocal(ctx context.Context, p string, w io.Writer) (int64, error) {
	name, err := c.local.resolve(p)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("tg: download: %w", err)
	}
	f, err := os.Open(name)
	if err != nil {
		return 0, fmt.Errorf("tg: download: local file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("tg: download: local file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("tg: download: local file %s: not a regular file", name)
	}
	if st.Size() > c.maxDownload {
		return 0, fmt.Errorf("tg: download: local file %s: %w: %d bytes, cap %d", name, ErrTooLarge, st.Size(), c.maxDownload)
	}
	n, over, rerr, werr := copyUpTo(ctx, w, f, c.maxDownload)
	switch {
	case werr != nil:
		return n, fmt.Errorf("tg: download: writing: %w", werr)
	case over:
		return n, fmt.Errorf("tg: download: local file %s: %w: more than the cap of %d bytes", name, ErrTooLarge, c.maxDownload)
	case rerr != nil:
		return n, fmt.Errorf("tg: download: local file: %w", rerr)
	}
	return n, nil
}
