// The SQLite implementation of Store (see store.h); Store::open picks it for a file path.
#pragma once

#include <memory>
#include <string>

#include "tenants/store.h"

namespace hearth::tenants {

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, int busy_timeout_ms);

}  // namespace hearth::tenants
