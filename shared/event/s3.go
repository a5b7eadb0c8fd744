package event

import (
	"encoding/json"
	"net/url"
	"strings"
)

func parseS3(body []byte) (*Event, error) {
	var env struct {
		Records []struct {
			EventSource string `json:"eventSource"`
			EventName   string `json:"eventName"`
			S3          struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object struct {
					Key string `json:"key"`
				} `json:"object"`
			} `json:"s3"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, bad("S3 event: %v", err)
	}
	ev := &Event{Kind: S3Objects}
	for _, r := range env.Records {
		// MinIO's bucket notifications are S3's, from "minio:s3" and with
		// event names prefixed "s3:".
		if (r.EventSource != "aws:s3" && r.EventSource != "minio:s3") || r.S3.Object.Key == "" {
			return nil, bad("S3 event record without an aws:s3 or minio:s3 source and object key")
		}
		if !strings.HasPrefix(strings.TrimPrefix(r.EventName, "s3:"), "ObjectCreated:") {
			continue
		}
		// S3 notifications URL-encode keys with + for spaces.
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			key = r.S3.Object.Key
		}
		ev.Objects = append(ev.Objects, Object{Bucket: r.S3.Bucket.Name, Key: key})
	}
	if len(ev.Objects) == 0 {
		ev.Ignored = "no object was created"
	}
	return ev, nil
}
