package notify

import (
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// The OCSF Detection Finding class (schema 1.4.0) as Vigil fills it; the
// mapping is in docs/RESPONSES.md.
const (
	OCSFVersion          = "1.4.0"
	ocsfClassUID         = 2004
	ocsfClassName        = "Detection Finding"
	ocsfCategoryUID      = 2
	ocsfCategoryName     = "Findings"
	ocsfActivityCreate   = 1
	ocsfActivityClose    = 3
	ocsfStatusNew        = 1
	ocsfStatusResolved   = 4
	ocsfObservableHost   = 1
	ocsfObservableIP     = 2
	ocsfSeverityInfo     = 1
	ocsfSeverityMedium   = 3
	ocsfSeverityHigh     = 4
	ocsfProductName      = "Vigil"
	ocsfProductVendor    = "Vigil"
	ocsfFindingTypeVigil = "Vigil Decision"
)

// OCSF is a Detection Finding (class_uid 2004), the fields Vigil sets.
type OCSF struct {
	ActivityID   int              `json:"activity_id"`
	ActivityName string           `json:"activity_name"`
	CategoryUID  int              `json:"category_uid"`
	CategoryName string           `json:"category_name"`
	ClassUID     int              `json:"class_uid"`
	ClassName    string           `json:"class_name"`
	TypeUID      int              `json:"type_uid"`
	TypeName     string           `json:"type_name"`
	Time         int64            `json:"time"`
	SeverityID   int              `json:"severity_id"`
	Severity     string           `json:"severity"`
	StatusID     int              `json:"status_id"`
	Status       string           `json:"status"`
	Message      string           `json:"message,omitempty"`
	FindingInfo  OCSFFindingInfo  `json:"finding_info"`
	Metadata     OCSFMetadata     `json:"metadata"`
	Resources    []OCSFResource   `json:"resources,omitempty"`
	Observables  []OCSFObservable `json:"observables,omitempty"`
	Unmapped     map[string]any   `json:"unmapped,omitempty"`
}

// OCSFFindingInfo is the finding_info object.
type OCSFFindingInfo struct {
	UID         string   `json:"uid"`
	Title       string   `json:"title"`
	Desc        string   `json:"desc,omitempty"`
	Types       []string `json:"types"`
	CreatedTime int64    `json:"created_time"`
	DataSources []string `json:"data_sources,omitempty"`
}

// OCSFMetadata is the metadata object.
type OCSFMetadata struct {
	Product OCSFProduct `json:"product"`
	Version string      `json:"version"`
	UID     string      `json:"uid,omitempty"`
}

// OCSFProduct is the product object.
type OCSFProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version"`
}

// OCSFResource is a resource_details object: a host the finding is about.
type OCSFResource struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
	IP   string `json:"ip,omitempty"`
}

// OCSFObservable is an observable object.
type OCSFObservable struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	TypeID int    `json:"type_id"`
	Value  string `json:"value"`
}

// ocsfSeverity maps Vigil's bands onto OCSF severity_id: green is
// Informational, yellow Medium, red High.
func ocsfSeverity(s event.Severity) (int, string) {
	switch s {
	case event.SeverityRed:
		return ocsfSeverityHigh, "High"
	case event.SeverityYellow:
		return ocsfSeverityMedium, "Medium"
	}
	return ocsfSeverityInfo, "Informational"
}

// ocsfOf renders req as a Detection Finding that a decision created.
func ocsfOf(req action.Request, monitor string) OCSF {
	return ocsfFinding(req, monitor, false)
}

// ocsfFinding renders req; closed renders the finding's close (activity
// Close, status Resolved).
func ocsfFinding(req action.Request, monitor string, closed bool) OCSF {
	ms := req.Time.UnixMilli()
	sevID, sev := ocsfSeverity(topSeverity(req.Reports))
	f := OCSF{
		ActivityID: ocsfActivityCreate, ActivityName: "Create",
		CategoryUID: ocsfCategoryUID, CategoryName: ocsfCategoryName,
		ClassUID: ocsfClassUID, ClassName: ocsfClassName,
		TypeUID: ocsfClassUID*100 + ocsfActivityCreate, TypeName: ocsfClassName + ": Create",
		Time:       ms,
		SeverityID: sevID, Severity: sev,
		StatusID: ocsfStatusNew, Status: "New",
		Message: req.Reason,
		FindingInfo: OCSFFindingInfo{
			UID:         req.ID,
			Title:       title(req),
			Types:       []string{ocsfFindingTypeVigil},
			CreatedTime: ms,
		},
		Metadata: OCSFMetadata{
			Product: OCSFProduct{Name: ocsfProductName, VendorName: ocsfProductVendor, Version: Version},
			Version: OCSFVersion,
			UID:     req.ID,
		},
	}
	if closed {
		f.ActivityID, f.ActivityName = ocsfActivityClose, "Close"
		f.TypeUID, f.TypeName = ocsfClassUID*100+ocsfActivityClose, ocsfClassName+": Close"
		f.StatusID, f.Status = ocsfStatusResolved, "Resolved"
	}
	if r := last(req.Reports); r != nil {
		f.FindingInfo.Desc = r.Explanation
	}
	seen := map[string]bool{}
	for i := range req.Reports {
		if e := req.Reports[i].Engine; e != "" && !seen[e] {
			seen[e] = true
			f.FindingInfo.DataSources = append(f.FindingInfo.DataSources, e)
		}
	}
	host, ip := subjectHost(req), subjectIP(req)
	if host != "" || ip != "" {
		f.Resources = []OCSFResource{{Type: "host", Name: host, UID: host, IP: ip}}
	}
	if host != "" {
		f.Observables = append(f.Observables, OCSFObservable{Name: "resources[0].name", Type: "Hostname", TypeID: ocsfObservableHost, Value: host})
	}
	if ip != "" {
		f.Observables = append(f.Observables, OCSFObservable{Name: "resources[0].ip", Type: "IP Address", TypeID: ocsfObservableIP, Value: ip})
	}
	reports := req.Reports
	if reports == nil {
		reports = []event.Report{}
	}
	f.Unmapped = map[string]any{
		"monitor": monitor, "policy": req.Policy, "method": req.Method, "key": req.Key,
		"subject": req.Subject, "reports": reports,
	}
	return f
}

// title is a finding's title: the policy and what it is about.
func title(req action.Request) string {
	name := req.Policy
	if name == "" {
		if r := last(req.Reports); r != nil && r.Model != "" {
			name = r.Model
		} else {
			name = "decision"
		}
	}
	about := subjectHost(req)
	if about == "" {
		about = subjectIP(req)
	}
	if about == "" {
		return "Vigil " + name
	}
	return "Vigil " + name + " on " + about
}
