{{- define "nmcore.labels" -}}
app: notification-manager
app.kubernetes.io/name: nmcore
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "nmcore.selector" -}}
app.kubernetes.io/name: nmcore
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nmcore.serviceAccount" -}}
{{- .Values.serviceAccount.name | default "notification-manager" }}
{{- end }}

{{- /* The store this release uses, checked: more than one replica needs PostgreSQL. */ -}}
{{- define "nmcore.store" -}}
{{- $type := .Values.store.type }}
{{- if not (has $type (list "sqlite" "postgresql" "memory")) }}
{{- fail (printf "store.type must be sqlite, postgresql or memory, not %q" $type) }}
{{- end }}
{{- if and (ne $type "postgresql") (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount %d needs store.type postgresql: on %s each replica would deliver everything" (int .Values.replicaCount) $type) }}
{{- end }}
{{- if and (eq $type "postgresql") (not .Values.store.postgresql.existingSecret) }}
{{- fail "store.type postgresql needs store.postgresql.existingSecret: a Secret holding the database URL" }}
{{- end }}
{{- $type }}
{{- end }}
