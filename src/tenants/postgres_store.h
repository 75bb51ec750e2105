// The PostgreSQL implementation of Store (see store.h), for replicas that share keys and usage;
// Store::open picks it for a postgresql:// or postgres:// URI (libpq's connection strings).
#pragma once

#include <memory>
#include <string>

#include "tenants/store.h"

namespace hearth::tenants {

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& uri);

}  // namespace hearth::tenants
