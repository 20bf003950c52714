package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// readBody reads the request body within MaxBodyBytes (413 past it) and
// checks its media type: application/json, or none given.
func (c *call) readBody() ([]byte, error) { return c.readBodyMax(c.s.cfg.MaxBodyBytes) }

// readBodyMax is readBody with a limit of the route's own.
func (c *call) readBodyMax(max int64) ([]byte, error) {
	if c.r.ContentLength > max {
		return nil, errTooLarge(max)
	}
	if ct := c.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, errorf(http.StatusUnsupportedMediaType, codeUnsupportedMediaType,
				"request bodies are application/json")
		}
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, max))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errTooLarge(max)
	case err != nil:
		return nil, errorf(http.StatusBadRequest, codeInvalidRequest, "reading the request body: %v", err)
	}
	return b, nil
}

func errTooLarge(max int64) error {
	return errorf(http.StatusRequestEntityTooLarge, codePayloadTooLarge, "request bodies are limited to %d bytes", max)
}

// decodeBody reads a JSON object into v strictly: unknown fields, trailing
// data and text that is not UTF-8 are refused (400). An empty body is
// refused unless optional is set, in which case v is left as it is.
func (c *call) decodeBody(v any, optional bool) error {
	b, err := c.readBody()
	if err != nil {
		return err
	}
	return decodeStrict(b, v, optional)
}

func decodeStrict(b []byte, v any, optional bool) error {
	if optional && len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if !utf8.Valid(b) {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "the request body is not valid UTF-8")
	}
	return decodeObject(b, v)
}

// decodeObject is decodeStrict without its UTF-8 check, for a body whose
// parts are checked one by one (the items of POST /v1/messages/batch):
// encoding/json keeps the bytes of a json.RawMessage as they are.
func decodeObject(b []byte, v any) error {
	if b = bytes.TrimSpace(b); len(b) == 0 {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "the request needs a JSON body")
	}
	if b[0] != '{' {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "invalid JSON body: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "invalid JSON body: data after the object")
	}
	return nil
}

// jsonProblem words a decoding error for the caller, without echoing
// values.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "syntax error at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return "field " + typ.Field + " must be " + jsonKind(typ.Type.Kind().String())
		}
		return "wrong type: expected " + jsonKind(typ.Type.Kind().String())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of data"
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f
	}
	return strings.TrimPrefix(msg, "json: ")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return k
}

// idParam is an id in a request body: a JSON string of digits, as the API
// writes ids, or a JSON number.
type idParam int64

func (p *idParam) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return &json.UnmarshalTypeError{Value: "id", Type: reflect.TypeOf("")}
	}
	*p = idParam(n)
	return nil
}
