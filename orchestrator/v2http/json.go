package v2http

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds how deeply JSON values may nest, so hostile input cannot exhaust the stack.
const maxDepth = 512

// parser is a minimal, allocation-free JSON scanner over one JSON text. It
// only reads buf; strings without escapes are returned as sub-slices of it.
type parser struct {
	buf []byte
	pos int
	// scratch holds the last string that needed unescaping; str reuses it.
	scratch []byte
}

// jsonError is a problem at a byte offset of the JSON header. Syntax errors
// (which encoding/json would also reject) say "invalid JSON"; the others
// (bad UTF-8, lone surrogates, too deep) say what they are.
type jsonError struct {
	off    int
	syntax bool
	msg    string
}

func (e *jsonError) Error() string {
	if e.syntax {
		return fmt.Sprintf("invalid JSON at byte %d: %s", e.off, e.msg)
	}
	return fmt.Sprintf("%s at byte %d", e.msg, e.off)
}

// syntaxErr reports invalid JSON at off.
func syntaxErr(off int, format string, args ...any) *jsonError {
	return &jsonError{off: off, syntax: true, msg: fmt.Sprintf(format, args...)}
}

// unexpected reports the byte at p.pos (or the end of input) as invalid JSON.
func (p *parser) unexpected() *jsonError {
	if p.pos >= len(p.buf) {
		return syntaxErr(p.pos, "unexpected end of JSON (truncated?)")
	}
	return syntaxErr(p.pos, "unexpected %s", describeByte(p.buf[p.pos]))
}

// describeByte renders c for an error message.
func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// ws skips JSON whitespace.
func (p *parser) ws() {
	for p.pos < len(p.buf) {
		switch p.buf[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte without consuming it; at the end of input it is an error.
func (p *parser) peek() (byte, error) {
	p.ws()
	if p.pos >= len(p.buf) {
		return 0, p.unexpected()
	}
	return p.buf[p.pos], nil
}

// kindOf names the kind of JSON value that starts with c, for "must be X, got Y" messages; "" means no value starts with c.
func kindOf(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a bool"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	default:
		return ""
	}
}

// nextMember advances to the next member of an object whose '{' is consumed:
// first is true right after the '{'. It returns the key (valid until the next
// string is read) with the ':' consumed, or more=false after consuming '}'.
func (p *parser) nextMember(first bool) (key []byte, more bool, err error) {
	c, err := p.peek()
	if err != nil {
		return nil, false, err
	}
	if c == '}' {
		p.pos++
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, p.unexpected()
		}
		p.pos++
		if c, err = p.peek(); err != nil {
			return nil, false, err
		}
	}
	if c != '"' {
		return nil, false, p.unexpected()
	}
	if key, err = p.str(); err != nil {
		return nil, false, err
	}
	if c, err = p.peek(); err != nil {
		return nil, false, err
	}
	if c != ':' {
		return nil, false, p.unexpected()
	}
	p.pos++
	return key, true, nil
}

// nextElement advances to the next element of an array whose '[' is
// consumed: first is true right after the '['. It returns more=false after
// consuming ']'; otherwise the element starts at p.pos (after whitespace,
// and p.pos is inside buf).
func (p *parser) nextElement(first bool) (more bool, err error) {
	c, err := p.peek()
	if err != nil {
		return false, err
	}
	if c == ']' {
		p.pos++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, p.unexpected()
		}
		p.pos++
		if _, err := p.peek(); err != nil {
			return false, err
		}
	}
	return true, nil
}

// literal consumes the literal word (true, false or null) at p.pos.
func (p *parser) literal(word string) error {
	end := p.pos + len(word)
	if end > len(p.buf) || string(p.buf[p.pos:end]) != word {
		// Point at the first byte that differs.
		for i := 0; i < len(word); i++ {
			if p.pos >= len(p.buf) || p.buf[p.pos] != word[i] {
				return p.unexpected()
			}
			p.pos++
		}
	}
	p.pos = end
	return nil
}

// boolValue consumes true or false at p.pos.
func (p *parser) boolValue() (bool, error) {
	if p.pos < len(p.buf) && p.buf[p.pos] == 't' {
		return true, p.literal("true")
	}
	return false, p.literal("false")
}

// number consumes the JSON number at p.pos and returns its literal text and
// whether it is an integer literal (no fraction and no exponent).
func (p *parser) number() (lit []byte, isInt bool, err error) {
	buf, start, i := p.buf, p.pos, p.pos
	if i < len(buf) && buf[i] == '-' {
		i++
	}
	switch {
	case i >= len(buf):
		p.pos = i
		return nil, false, p.unexpected()
	case buf[i] == '0':
		i++
	case buf[i] >= '1' && buf[i] <= '9':
		i++
		for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return nil, false, p.unexpected()
	}
	isInt = true
	if i < len(buf) && buf[i] == '.' {
		isInt = false
		i++
		if i >= len(buf) || buf[i] < '0' || buf[i] > '9' {
			p.pos = i
			return nil, false, p.unexpected()
		}
		for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
			i++
		}
	}
	if i < len(buf) && (buf[i] == 'e' || buf[i] == 'E') {
		isInt = false
		i++
		if i < len(buf) && (buf[i] == '+' || buf[i] == '-') {
			i++
		}
		if i >= len(buf) || buf[i] < '0' || buf[i] > '9' {
			p.pos = i
			return nil, false, p.unexpected()
		}
		for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
			i++
		}
	}
	p.pos = i
	return buf[start:i], isInt, nil
}

// str consumes the JSON string at p.pos (which must be '"') and returns its
// unescaped contents. The result aliases p.buf when the string is plain
// ASCII without escapes, and p.scratch otherwise; either way it is only
// valid until the next call.
func (p *parser) str() ([]byte, error) {
	buf := p.buf
	for i := p.pos + 1; i < len(buf); i++ {
		c := buf[i]
		if c == '"' {
			s := buf[p.pos+1 : i]
			p.pos = i + 1
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	var err error
	p.scratch, err = p.appendString(p.scratch[:0])
	return p.scratch, err
}

// appendString consumes the JSON string at p.pos (which must be '"') and
// appends its unescaped contents to dst. Invalid UTF-8 and lone UTF-16
// surrogates are errors: JSON text is UTF-8, and a tensor's bytes must not
// be silently replaced.
func (p *parser) appendString(dst []byte) ([]byte, error) {
	buf := p.buf
	i := p.pos + 1
	for {
		start := i
		for i < len(buf) {
			c := buf[i]
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				break
			}
			i++
		}
		dst = append(dst, buf[start:i]...)
		if i >= len(buf) {
			p.pos = i
			return dst, p.unexpected()
		}
		switch c := buf[i]; {
		case c == '"':
			p.pos = i + 1
			return dst, nil
		case c < 0x20:
			return dst, syntaxErr(i, "control character %s in string", describeByte(c))
		case c >= 0x80:
			r, size := utf8.DecodeRune(buf[i:])
			if r == utf8.RuneError && size == 1 {
				return dst, &jsonError{off: i, msg: "invalid UTF-8 in string"}
			}
			dst = append(dst, buf[i:i+size]...)
			i += size
		default: // backslash
			if i+1 >= len(buf) {
				p.pos = i + 1
				return dst, p.unexpected()
			}
			switch e := buf[i+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, ok := hex4(buf, i+2)
				if !ok {
					return dst, syntaxErr(i, `invalid \u escape`)
				}
				size := 6
				if r >= 0xd800 && r < 0xe000 {
					paired := false
					if r < 0xdc00 && i+7 < len(buf) && buf[i+6] == '\\' && buf[i+7] == 'u' {
						lo, ok := hex4(buf, i+8)
						if !ok {
							return dst, syntaxErr(i+6, `invalid \u escape`)
						}
						if lo >= 0xdc00 && lo < 0xe000 {
							r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
							size, paired = 12, true
						}
					}
					if !paired {
						return dst, &jsonError{off: i, msg: fmt.Sprintf(`lone UTF-16 surrogate \u%04x in string`, r)}
					}
				}
				dst = utf8.AppendRune(dst, r)
				i += size
				continue
			default:
				return dst, syntaxErr(i, "invalid escape %s in string", strconv.Quote(string(buf[i:i+2])))
			}
			i += 2
		}
	}
}

// hex4 parses the four hex digits at buf[i:].
func hex4(buf []byte, i int) (rune, bool) {
	if i+4 > len(buf) {
		return 0, false
	}
	var r rune
	for _, c := range buf[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// skip consumes one JSON value of any kind, checking its syntax; depth is the nesting depth of the value.
func (p *parser) skip(depth int) error {
	c, err := p.peek()
	if err != nil {
		return err
	}
	switch c {
	case '{', '[':
		if depth >= maxDepth {
			return &jsonError{off: p.pos, msg: fmt.Sprintf("JSON nested deeper than %d levels", maxDepth)}
		}
		p.pos++
		for first := true; ; first = false {
			var more bool
			if c == '{' {
				_, more, err = p.nextMember(first)
			} else {
				more, err = p.nextElement(first)
			}
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
		}
	case '"':
		for i := p.pos + 1; i < len(p.buf); i++ {
			c := p.buf[i]
			if c == '"' {
				p.pos = i + 1
				return nil
			}
			if c == '\\' || c < 0x20 || c >= 0x80 {
				break
			}
		}
		var err error
		p.scratch, err = p.appendString(p.scratch[:0])
		return err
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	default:
		_, _, err := p.number()
		return err
	}
}

// parseIntLiteral parses the digits of an integer literal (optionally starting
// with '-') into its sign and magnitude; ok is false if the magnitude does not fit 64 bits.
func parseIntLiteral(lit []byte) (neg bool, mag uint64, ok bool) {
	if len(lit) > 0 && lit[0] == '-' {
		neg = true
		lit = lit[1:]
	}
	for _, c := range lit {
		d := uint64(c - '0')
		if mag > (1<<64-1-d)/10 {
			return neg, 0, false
		}
		mag = mag*10 + d
	}
	return neg, mag, true
}

// intValue returns the integer literal lit as an int64; ok is false if it does not fit.
func intValue(lit []byte) (int64, bool) {
	neg, mag, ok := parseIntLiteral(lit)
	switch {
	case !ok:
		return 0, false
	case neg && mag <= 1<<63:
		return -int64(mag-1) - 1, true
	case !neg && mag < 1<<63:
		return int64(mag), true
	default:
		return 0, false
	}
}

// quoteLiteral renders a JSON literal from the input for an error message, shortened if long.
func quoteLiteral(lit []byte) string {
	const max = 40
	if len(lit) > max {
		return string(lit[:max]) + "..."
	}
	return string(lit)
}
