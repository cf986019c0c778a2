# Illustrative module called by templates/azure-storage-blob.
variable "project_cd" { type = string }
variable "container_name" { type = string }
variable "account_tier" { type = string }
variable "contributors" { type = list(object({ email = string, oid = string })) }
variable "readers" { type = list(object({ email = string, oid = string })) }

resource "azurerm_storage_account" "this" {
  name                     = "${lower(var.project_cd)}storage"
  account_tier             = var.account_tier
  account_replication_type = "LRS"
}

resource "azurerm_storage_container" "this" {
  name                 = var.container_name
  storage_account_name = azurerm_storage_account.this.name
}
