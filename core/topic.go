package core

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTopicLength is the longest topic or filter MQTT can carry (a 16-bit length prefix).
const MaxTopicLength = 65535

// MaxPayloadSize is the largest payload an MQTT 3.1.1 packet can carry with a short topic.
const MaxPayloadSize = 268435455 - 2 - 2 - 16

// ValidateTopic reports why topic cannot be published to, or nil.
func ValidateTopic(topic string) error {
	if err := validateTopicText("topic", topic); err != nil {
		return err
	}
	if strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("topic %q contains a wildcard (+ or #): wildcards are only allowed in subscription filters", topic)
	}
	return nil
}

// ValidateFilter reports why filter is not a valid subscription filter, or nil.
func ValidateFilter(filter string) error {
	if err := validateTopicText("filter", filter); err != nil {
		return err
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("filter %q: '#' must be the last level", filter)
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return fmt.Errorf("filter %q: a wildcard must occupy a whole level (level %q)", filter, l)
		}
	}
	return nil
}

func validateTopicText(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s: give at least one character", what)
	case len(s) > MaxTopicLength:
		return fmt.Errorf("%s is %d bytes long: MQTT allows at most %d", what, len(s), MaxTopicLength)
	}
	return ValidateMQTTString(what, s)
}

// ValidateMQTTString reports why s cannot travel as an MQTT UTF-8 string (a topic, filter,
// client ID or user name), or nil. Besides valid UTF-8 without NUL (which MQTT requires), it
// refuses what brokers drop the connection for (Mosquitto does): the control characters
// U+0001-U+001F and U+007F-U+009F and the Unicode non-characters (U+FDD0-U+FDEF, and U+FFFE and
// U+FFFF in every plane). Sent anyway, such a string would cost a healthy broker's connection
// on every attempt.
func ValidateMQTTString(what, s string) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return fmt.Errorf("%s %q is not valid UTF-8 (at byte %d)", what, s, i)
		case r == 0:
			return fmt.Errorf("%s %q contains a NUL character (at byte %d): MQTT forbids it", what, s, i)
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
			return fmt.Errorf("%s %q contains the control character U+%04X (at byte %d): brokers close the connection for it", what, s, r, i)
		case (r >= 0xfdd0 && r <= 0xfdef) || r&0xfffe == 0xfffe:
			return fmt.Errorf("%s %q contains the Unicode non-character U+%04X (at byte %d): brokers close the connection for it", what, s, r, i)
		}
	}
	return nil
}

// ValidateQoS reports an error unless qos is 0, 1 or 2.
func ValidateQoS(qos int) error {
	if qos < 0 || qos > 2 {
		return fmt.Errorf("QoS %d out of range: use 0, 1 or 2", qos)
	}
	return nil
}

// TopicMatches reports whether topic matches the subscription filter (MQTT 3.1.1 §4.7),
// including the rule that wildcards at the first level do not match topics starting with '$'.
func TopicMatches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a" itself.
			return fmore == tmore || (!tmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}
