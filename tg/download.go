package tg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// downloadMethod names downloads in errors.
const downloadMethod = "download"

// Download streams the file at filePath (File.FilePath from getFile) to w
// and returns the number of bytes written. It blocks until the file is
// written, the call fails or ctx ends.
//
// At most the download cap (WithMaxDownloadBytes) is written: a file whose
// announced length is over the cap is refused before anything is written,
// and a body that grows past the cap stops at the cap with an error wrapping
// ErrTooLarge. A non-200 answer is an *APIError (or *ResponseError);
// transport failures are *NetworkError; a failed write to w is returned
// wrapped; after Close it fails with an error wrapping ErrClosed. The
// response body is closed on every path.
//
// A local Bot API server in --local mode answers getFile with an absolute
// path. With WithLocalServer (or WithLocalFiles) such a path is read from
// disk instead: streamed, under the same cap (before anything is written
// when the file's size is over it), ctx checked between reads, the file
// closed on every path; a missing file gives an error wrapping
// fs.ErrNotExist. Without local mode every path is requested over HTTP
// (a --local server does not serve files: that gives a 404 *APIError,
// unless a web server of yours serves the server's directory there).
func (c *Client) Download(ctx context.Context, filePath string, w io.Writer) (int64, error) {
	if c.closed.Load() {
		return 0, errClosed(downloadMethod)
	}
	defer c.closeIdleIfClosed()
	if filePath == "" {
		return 0, errors.New("tg: download: empty file path")
	}
	if c.local.on && isLocalPath(filePath) {
		return c.downloadLocal(ctx, filePath, w)
	}
	tr := &connTrace{counted: c.transport != nil, headerWait: c.headerWait}
	defer tr.release()
	req, err := http.NewRequestWithContext(tr.context(ctx), http.MethodGet, c.filePrefix+escapePath(filePath), nil)
	if err != nil {
		return 0, fmt.Errorf("tg: download: %w", c.red.err(err))
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		return 0, c.networkError(ctx, downloadMethod, tr.headerTimeoutError(err), tr)
	}
	if resp.StatusCode != http.StatusOK {
		err := c.readAnswer(ctx, downloadMethod, resp, nil, 0)
		if err == nil { // ok=true on a non-200 is refused by decodeEnvelope; keep the guarantee here too
			err = &ResponseError{Method: downloadMethod, StatusCode: resp.StatusCode, Err: errNotEnvelope}
		}
		return 0, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > c.maxDownload {
		return 0, &ResponseError{Method: downloadMethod, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("%w: %d bytes announced, cap %d", ErrTooLarge, resp.ContentLength, c.maxDownload)}
	}
	return c.copyCapped(ctx, w, resp)
}

// copyCapped copies resp.Body to w, at most c.maxDownload bytes.
func (c *Client) copyCapped(ctx context.Context, w io.Writer, resp *http.Response) (int64, error) {
	n, over, rerr, werr := copyUpTo(ctx, w, resp.Body, c.maxDownload)
	switch {
	case werr != nil:
		drainClose(resp.Body)
		return n, fmt.Errorf("tg: download: writing: %w", werr)
	case over:
		return n, &ResponseError{Method: downloadMethod, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("%w: more than the cap of %d bytes", ErrTooLarge, c.maxDownload)}
	case rerr != nil:
		return n, c.networkError(ctx, downloadMethod, rerr, nil)
	}
	return n, nil
}

// copyUpTo copies r to w through a 32 KiB buffer until r ends (rerr nil),
// a read fails (rerr), a write fails (werr, io.ErrShortWrite for a short
// one), or more than max bytes come (over: max bytes were written). ctx
// is checked before each read (rerr is then its error).
func copyUpTo(ctx context.Context, w io.Writer, r io.Reader, max int64) (n int64, over bool, rerr, werr error) {
	buf := make([]byte, 32<<10)
	for {
		if err := ctx.Err(); err != nil {
			return n, false, err, nil
		}
		room := max - n + 1 // one byte more than allowed reveals an oversized body
		if room > int64(len(buf)) {
			room = int64(len(buf))
		}
		m, err := r.Read(buf[:room])
		over = n+int64(m) > max
		if over {
			m = int(max - n)
		}
		if m > 0 {
			k, err := w.Write(buf[:m])
			n += int64(k)
			if err == nil && k < m {
				err = io.ErrShortWrite
			}
			if err != nil {
				return n, false, nil, err
			}
		}
		switch {
		case over:
			return n, true, nil, nil
		case err == io.EOF:
			return n, false, nil, nil
		case err != nil:
			return n, false, err, nil
		}
	}
}

// escapePath escapes each "/"-separated segment of a file path.
func escapePath(p string) string {
	p = strings.TrimLeft(p, "/")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// DownloadFile downloads filePath (see Download) into a temporary file in
// dstPath's directory and renames it to dstPath once the whole file is
// written and synced; on failure the temporary file is removed and dstPath
// is left as it was. The file is created with mode 0600. It returns the
// number of bytes downloaded.
func (c *Client) DownloadFile(ctx context.Context, filePath, dstPath string) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(dstPath), "."+filepath.Base(dstPath)+".*.part")
	if err != nil {
		return 0, fmt.Errorf("tg: download: %w", err)
	}
	n, err := c.Download(ctx, filePath, f)
	if err == nil {
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("tg: download: %w", err)
		}
	}
	if cerr := f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("tg: download: %w", cerr)
	}
	if err == nil {
		if err = os.Rename(f.Name(), dstPath); err != nil {
			err = fmt.Errorf("tg: download: %w", err)
		}
	}
	if err != nil {
		os.Remove(f.Name())
		return n, err
	}
	return n, nil
}
