{{/* Names: every object is named after the release, so two releases never collide. */}}
{{- define "periscope.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "periscope.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* selector labels of one component: (dict "root" $ "component" "control-plane") */}}
{{- define "periscope.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* an image reference: (dict "root" $ "image" .Values.controlPlane.image) */}}
{{- define "periscope.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if $registry -}}{{ printf "%s/%s:%s" (trimSuffix "/" $registry) .image.repository $tag }}{{- else -}}{{ printf "%s:%s" .image.repository $tag }}{{- end -}}
{{- end -}}

{{- define "periscope.agentsService" -}}{{ include "periscope.fullname" . }}-agents{{- end -}}
{{- define "periscope.databaseSecret" -}}
{{- if .Values.database.bundled.enabled -}}{{ include "periscope.fullname" . }}-database{{- else -}}{{ .Values.database.existingSecret }}{{- end -}}
{{- end -}}
{{- define "periscope.operatorSecret" -}}
{{- .Values.operator.existingSecret | default (printf "%s-operator" (include "periscope.fullname" .)) -}}
{{- end -}}
{{- define "periscope.controlPlaneTlsSecret" -}}
{{- if eq .Values.tls.mode "cert-manager" -}}{{ include "periscope.fullname" . }}-control-plane-tls{{- else -}}{{ .Values.tls.controlPlaneSecret }}{{- end -}}
{{- end -}}
{{- define "periscope.agentTlsSecret" -}}
{{- if eq .Values.tls.mode "cert-manager" -}}{{ include "periscope.fullname" . }}-agent-tls{{- else -}}{{ .Values.tls.agentSecret }}{{- end -}}
{{- end -}}
