package dashboards

// Dashboard is one typed dashboard definition: what a TOML file under
// [dashboards] definition_files / definition_dirs holds, and what
// GET /api/v1/dashboards/<id> returns as JSON.
type Dashboard struct {
	// ID is the dashboard's stable slug ([a-z0-9-]{1,64}); it is the URL key.
	ID          string `toml:"id" json:"id"`
	Title       string `toml:"title" json:"title"`
	Description string `toml:"description" json:"description,omitempty"`
	// Override must be true for a custom dashboard whose ID equals a built-in
	// one: replacing a shipped dashboard is then a visible decision, never an
	// accident of naming.
	Override bool     `toml:"override" json:"override,omitempty"`
	Tags     []string `toml:"tags" json:"tags,omitempty"`
	// Refresh is the console's auto-refresh period as a Prometheus duration
	// ("30s", "1m"), or "off". Default "30s".
	Refresh string `toml:"refresh" json:"refresh"`
	// TimeRange is the default time window shown, counted back from now, as a
	// Prometheus duration ("1h", "6h", "7d"). Default "1h".
	TimeRange string     `toml:"time_range" json:"time_range"`
	Variables []Variable `toml:"variables" json:"variables,omitempty"`
	Panels    []Panel    `toml:"panels" json:"panels"`

	// Builtin is true for definitions shipped in the binary. It is set by the
	// loader and cannot be written in TOML (the key would be unknown).
	Builtin bool `toml:"-" json:"builtin"`
	// Source is the file the definition came from ("builtin/<name>.toml" for
	// built-ins). It stays out of the JSON so the API does not reveal the
	// server's filesystem layout.
	Source string `toml:"-" json:"-"`

	// lines remembers where keys the Set's cross-file checks report on were
	// written.
	lines struct{ id, override int }
}

// VariableKind says where a variable's choices come from.
type VariableKind string

// Variable kinds.
const (
	// VariableAgent offers the agent ids of the fleet (/api/v1/agents).
	VariableAgent VariableKind = "agent"
	// VariableLabelValues offers the values of one label, from a query of the
	// form label_values(label) or label_values(selector, label).
	VariableLabelValues VariableKind = "label_values"
	// VariableCustom offers the fixed list in Options.
	VariableCustom VariableKind = "custom"
	// VariableText is free text typed by the user, starting at Default. It
	// serves filters with no finite set of values, such as a log source or a
	// search string.
	VariableText VariableKind = "text"
)

// Variable is a dashboard-wide choice that panels reference as $name or
// ${name} in PromQL expressions and logs queries.
type Variable struct {
	// Name is an identifier ([A-Za-z_][A-Za-z0-9_]*); names starting with
	// "__" are reserved for the built-in variables.
	Name  string       `toml:"name" json:"name"`
	Label string       `toml:"label" json:"label,omitempty"`
	Kind  VariableKind `toml:"kind" json:"kind"`
	// Query is required for kind label_values and forbidden otherwise, e.g.
	// label_values(host_uptime_seconds, agent). It may reference variables
	// declared before this one.
	Query string `toml:"query" json:"query,omitempty"`
	// Options is required for kind custom and forbidden otherwise.
	Options []string `toml:"options" json:"options,omitempty"`
	// Default is the initial value; for kind custom it must be one of Options.
	// Empty means "the first value offered".
	Default string `toml:"default" json:"default,omitempty"`
}

// PanelType says how a panel draws its data.
type PanelType string

// Panel types.
const (
	// PanelTimeseries draws each query as lines over the time range (range query).
	PanelTimeseries PanelType = "timeseries"
	// PanelStat shows one big number per series (instant query at the range end).
	PanelStat PanelType = "stat"
	// PanelTable lists series and values as rows (instant query at the range end).
	PanelTable PanelType = "table"
	// PanelLogs lists log records matching Logs (the /api/v1/logs API).
	PanelLogs PanelType = "logs"
)

// Unit says how a panel formats values.
type Unit string

// Units. Rates use the per-second units.
const (
	UnitNone           Unit = "none"
	UnitCount          Unit = "count"
	UnitBytes          Unit = "bytes"
	UnitBytesPerSecond Unit = "bytes_per_second"
	UnitSeconds        Unit = "seconds"
	UnitPercent        Unit = "percent" // 0-100
	UnitRatio          Unit = "ratio"   // 0-1, shown as a percentage
	UnitOps            Unit = "ops"     // operations per second
)

// Panel is one cell of a dashboard.
type Panel struct {
	// ID is a slug ([a-z0-9-]{1,64}) unique within the dashboard; errors and
	// the console refer to panels by it.
	ID          string    `toml:"id" json:"id"`
	Title       string    `toml:"title" json:"title"`
	Description string    `toml:"description" json:"description,omitempty"`
	Type        PanelType `toml:"type" json:"type"`
	// Queries are the PromQL expressions of timeseries, stat and table
	// panels (at least one); logs panels have none.
	Queries []Query `toml:"queries" json:"queries,omitempty"`
	// Logs is the log query of a logs panel, and only of a logs panel.
	Logs *LogsQuery `toml:"logs" json:"logs,omitempty"`
	// Unit formats values; default "none". Not for logs panels.
	Unit Unit `toml:"unit" json:"unit,omitempty"`
	// Decimals fixes the number of decimals shown (0-10); nil lets the
	// console choose.
	Decimals *int   `toml:"decimals" json:"decimals,omitempty"`
	Layout   Layout `toml:"layout" json:"layout"`
	// Thresholds colour values at or above each step, in ascending order.
	Thresholds []Threshold `toml:"thresholds" json:"thresholds,omitempty"`
}

// Query is one PromQL expression of a panel.
type Query struct {
	Expr string `toml:"expr" json:"expr"`
	// Legend names each resulting series; {{label}} is replaced by the
	// series' label value, e.g. "{{agent}} {{mode}}".
	Legend string `toml:"legend" json:"legend,omitempty"`
}

// LogsQuery selects the records a logs panel shows. Agent, Source and Q may
// reference variables as $name or ${name}; Re only as ${name}, because a bare
// "$" is a regular-expression anchor.
type LogsQuery struct {
	Agent  string `toml:"agent" json:"agent,omitempty"`
	Source string `toml:"source" json:"source,omitempty"`
	// Q is a plain substring the message must contain.
	Q string `toml:"q" json:"q,omitempty"`
	// Re is an RE2 regular expression the message must match.
	Re string `toml:"re" json:"re,omitempty"`
	// Limit is the number of records shown (1-MaxLogsLimit); default DefaultLogsLimit.
	Limit int `toml:"limit" json:"limit,omitempty"`
}

// Limits of a logs panel's record count.
const (
	DefaultLogsLimit = 200
	MaxLogsLimit     = 5000
)

// GridColumns is the width of the layout grid panels are placed on.
const GridColumns = 24

// Layout places a panel on the dashboard grid: X and W count columns of a
// GridColumns-wide grid, Y and H count rows.
type Layout struct {
	X int `toml:"x" json:"x"`
	Y int `toml:"y" json:"y"`
	W int `toml:"w" json:"w"`
	H int `toml:"h" json:"h"`
}

// Threshold is one colour step: values at or above Value use Color, one of
// green, blue, yellow, orange, red, or a #rrggbb hex colour.
type Threshold struct {
	Value float64 `toml:"value" json:"value"`
	Color string  `toml:"color" json:"color"`
}

// Summary is one entry of a dashboard listing (GET /api/v1/dashboards).
type Summary struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Builtin     bool     `json:"builtin"`
}

// summary returns the listing entry of d.
func (d *Dashboard) summary() Summary {
	return Summary{
		ID:          d.ID,
		Title:       d.Title,
		Description: d.Description,
		Tags:        append([]string(nil), d.Tags...),
		Builtin:     d.Builtin,
	}
}

// clone returns a deep copy of d, so a Set can hand out dashboards without
// letting callers change what other callers see.
func (d *Dashboard) clone() Dashboard {
	c := *d
	c.Tags = append([]string(nil), d.Tags...)
	c.Variables = make([]Variable, len(d.Variables))
	for i, v := range d.Variables {
		v.Options = append([]string(nil), v.Options...)
		c.Variables[i] = v
	}
	c.Panels = make([]Panel, len(d.Panels))
	for i, p := range d.Panels {
		p.Queries = append([]Query(nil), p.Queries...)
		p.Thresholds = append([]Threshold(nil), p.Thresholds...)
		if p.Logs != nil {
			l := *p.Logs
			p.Logs = &l
		}
		if p.Decimals != nil {
			n := *p.Decimals
			p.Decimals = &n
		}
		c.Panels[i] = p
	}
	if d.Variables == nil {
		c.Variables = nil
	}
	return c
}
