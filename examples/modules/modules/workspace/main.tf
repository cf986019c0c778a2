# Illustrative module called by templates/new-workspace-template.
variable "project_cd" { type = string }
variable "workspace_name" { type = string }
variable "organization_code" { type = string }
variable "admin_users" { type = list(object({ email = string, oid = string })) }
variable "users" { type = list(object({ email = string, oid = string })) }
variable "location" { type = string }
variable "environment_name" { type = string }
variable "infrastructure_branch" { type = string }

resource "azurerm_resource_group" "workspace" {
  name     = "fsdh_proj_${lower(var.project_cd)}_${var.environment_name}_rg"
  location = var.location
}
