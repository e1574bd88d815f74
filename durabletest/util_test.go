package durabletest_test

import "encoding/json"

type jsonRaw = json.RawMessage

func unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
