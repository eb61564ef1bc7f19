package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// credentials are how a call to the API authenticates: a session's bearer token, or (at login
// only) the user's name and password.
type credentials struct {
	token                    string
	basicUser, basicPassword string
}

func (s *session) creds() credentials { return credentials{token: s.token} }

// apiError is the API's refusal of a call: its status and message.
type apiError struct {
	Code    int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

// api calls the REST API in process, as the user of creds: body (when not nil) goes as JSON, a
// 2xx answer is decoded into out (when not nil), anything else is an *apiError.
func (c *Console) api(ctx context.Context, creds credentials, method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	// The API routes on its own: it must not see the console's routing context.
	ctx = context.WithValue(ctx, chi.RouteCtxKey, nil)
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if creds.token != "" {
		req.Header.Set("Authorization", "Bearer "+creds.token)
	} else {
		req.SetBasicAuth(creds.basicUser, creds.basicPassword)
	}
	rec := &recorder{header: http.Header{}}
	c.opts.API.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	if rec.code < 200 || rec.code > 299 {
		var m struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &m)
		return &apiError{Code: rec.code, Message: m.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("decode the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// recorder is the http.ResponseWriter of an in-process API call.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}
