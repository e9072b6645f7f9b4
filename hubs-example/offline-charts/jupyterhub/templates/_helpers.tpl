{{- define "jupyterhub.labels" -}}
app: jupyterhub
release: {{ .Release.Name }}
chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
heritage: {{ .Release.Service }}
{{- end }}

{{- define "jupyterhub.image" -}}
{{ .name }}:{{ .tag }}
{{- end }}
