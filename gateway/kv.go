package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/raftkv/raftkv/client"
)

// kvEntry is one key in Consul's JSON shape. Value is base64 in JSON, and
// null for an empty value (as Consul).
type kvEntry struct {
	Key         string `json:"Key"`
	Value       []byte `json:"Value"`
	CreateIndex uint64 `json:"CreateIndex"`
	ModifyIndex uint64 `json:"ModifyIndex"`
}

func entryFrom(kv client.KeyValue) kvEntry {
	e := kvEntry{Key: kv.Key, CreateIndex: kv.CreateIndex, ModifyIndex: kv.ModIndex}
	if len(kv.Value) > 0 {
		e.Value = kv.Value
	}
	return e
}

// serveKV serves GET, PUT and DELETE /v1/kv/{key} (the caller has checked
// the method and the token).
func (g *Gateway) serveKV(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	req, e := parseKVRequest(method, r.URL.EscapedPath(), r.URL.RawQuery)
	if e != nil {
		writeError(w, e)
		return
	}
	switch req.method {
	case http.MethodGet:
		if req.list {
			g.kvList(w, r, info, req)
		} else {
			g.kvGet(w, r, info, req)
		}
	case http.MethodPut:
		g.kvPut(w, r, info, req)
	case http.MethodDelete:
		g.kvDelete(w, r, info, req)
	}
}

func (g *Gateway) kvGet(w http.ResponseWriter, r *http.Request, info *reqInfo, req *kvRequest) {
	ctx, cancel := g.requestContext(r)
	defer cancel()
	resp, err := g.kv.Get(ctx, req.key, req.readOptions()...)
	if err != nil {
		g.fail(w, r, info, err)
		return
	}
	setHeader(w.Header(), resp.Header)
	w.Header().Set("X-Raftkv-Modify-Index", strconv.FormatUint(resp.KV.ModIndex, 10))
	if req.raw {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", strconv.Itoa(len(resp.KV.Value)))
		_, _ = w.Write(resp.KV.Value)
		return
	}
	writeJSONStatus(w, http.StatusOK, []kvEntry{entryFrom(resp.KV)})
}

// kvList answers a listing. Like Consul, a prefix with no keys under it is
// a 404 (with the X-Raftkv-* headers of the read).
func (g *Gateway) kvList(w http.ResponseWriter, r *http.Request, info *reqInfo, req *kvRequest) {
	ctx, cancel := g.requestContext(r)
	defer cancel()
	resp, err := g.kv.List(ctx, req.key, req.readOptions()...)
	if err != nil {
		g.fail(w, r, info, err)
		return
	}
	setHeader(w.Header(), resp.Header)
	w.Header().Set("X-Raftkv-More", strconv.FormatBool(resp.More))
	if len(resp.KVs) == 0 {
		writeError(w, &apiError{status: http.StatusNotFound, code: codeNotFound,
			msg: fmt.Sprintf("no keys under prefix %q", req.key)})
		return
	}
	if req.keysOnly {
		keys := make([]string, len(resp.KVs))
		for i, kv := range resp.KVs {
			keys[i] = kv.Key
		}
		writeJSONStatus(w, http.StatusOK, keys)
		return
	}
	out := make([]kvEntry, len(resp.KVs))
	for i, kv := range resp.KVs {
		out[i] = entryFrom(kv)
	}
	writeJSONStatus(w, http.StatusOK, out)
}

// kvPut sets a key to the raw request body and answers `true`, as Consul.
// With ?cas= a condition that does not hold is a 409 (Consul answers
// `false` with a 200): nothing was written, and X-Raftkv-Modify-Index
// carries the key's present mod index (absent when it does not exist).
func (g *Gateway) kvPut(w http.ResponseWriter, r *http.Request, info *reqInfo, req *kvRequest) {
	value, e := readValue(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	ctx, cancel := g.requestContext(r)
	defer cancel()
	var resp *client.PutResponse
	var err error
	if req.hasCAS {
		resp, err = g.kv.PutIf(ctx, req.key, value, req.cas)
	} else {
		resp, err = g.kv.Put(ctx, req.key, value)
	}
	if err != nil {
		g.fail(w, r, info, err)
		return
	}
	setHeader(w.Header(), resp.Header)
	if !resp.Succeeded {
		g.casMismatch(w, r, info, req, resp.Current)
		return
	}
	w.Header().Set("X-Raftkv-Index", strconv.FormatUint(resp.Index, 10))
	writeJSONStatus(w, http.StatusOK, true)
}

// kvDelete deletes a key and answers `true`, also when it did not exist (as
// Consul); X-Raftkv-Deleted says whether it did. ?cas= as for PUT.
func (g *Gateway) kvDelete(w http.ResponseWriter, r *http.Request, info *reqInfo, req *kvRequest) {
	ctx, cancel := g.requestContext(r)
	defer cancel()
	var resp *client.DeleteResponse
	var err error
	if req.hasCAS {
		resp, err = g.kv.DeleteIf(ctx, req.key, req.cas)
	} else {
		resp, err = g.kv.Delete(ctx, req.key)
	}
	if err != nil {
		g.fail(w, r, info, err)
		return
	}
	setHeader(w.Header(), resp.Header)
	if !resp.Succeeded {
		g.casMismatch(w, r, info, req, resp.Current)
		return
	}
	w.Header().Set("X-Raftkv-Index", strconv.FormatUint(resp.Index, 10))
	w.Header().Set("X-Raftkv-Deleted", strconv.FormatBool(resp.Deleted))
	writeJSONStatus(w, http.StatusOK, true)
}

// casMismatch answers a ?cas= write whose condition did not hold.
func (g *Gateway) casMismatch(w http.ResponseWriter, r *http.Request, info *reqInfo, req *kvRequest, current *client.KeyValue) {
	msg := fmt.Sprintf("cas=%d: the key does not exist", req.cas)
	if current != nil {
		w.Header().Set("X-Raftkv-Modify-Index", strconv.FormatUint(current.ModIndex, 10))
		msg = fmt.Sprintf("cas=%d: the key's ModifyIndex is %d", req.cas, current.ModIndex)
		if req.cas == 0 {
			msg = fmt.Sprintf("cas=0: the key exists (ModifyIndex %d)", current.ModIndex)
		}
	}
	g.fail(w, r, info, fmt.Errorf("%w: %s; nothing was written", errCASMismatch, msg))
}

// readValue reads a PUT body of at most MaxValueBytes; a larger one is a
// 413, refused from Content-Length alone when the client sent it.
func readValue(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, code: codeBodyTooLarge,
		msg: fmt.Sprintf("the body (the value) exceeds the limit of %d bytes", MaxValueBytes)}
	if r.ContentLength > MaxValueBytes {
		return nil, tooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxValueBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, badRequest("reading the body: %v", err)
	}
	return b, nil
}

// setHeader adds the X-Raftkv-* headers describing the node that answered.
func setHeader(h http.Header, hd client.Header) {
	h.Set("X-Raftkv-Node", hd.NodeID)
	if hd.LeaderID != "" {
		h.Set("X-Raftkv-Leader", hd.LeaderID)
	}
	h.Set("X-Raftkv-Applied-Index", strconv.FormatUint(hd.AppliedIndex, 10))
	h.Set("X-Raftkv-Leader-Known", strconv.FormatBool(hd.LeaderKnown))
	h.Set("X-Raftkv-Last-Contact", strconv.FormatInt(lastContactMillis(hd.LastContact), 10))
	h.Set("X-Raftkv-Degraded", strconv.FormatBool(hd.Degraded))
	if hd.Consistency != 0 {
		h.Set("X-Raftkv-Consistency", hd.Consistency.String())
	}
}

// lastContactMillis renders Header.LastContact as Consul's
// X-Consul-LastContact does, in milliseconds, with -1 for "never" (which
// the client reports as a negative duration).
func lastContactMillis(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}
