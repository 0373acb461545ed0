/*  =========================================================================
    schema-valijson - the same workloads through valijson, for scale

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    valijson (Debian libvalijson-dev) is header-only C++; Debian ships no
    jansson adapter, so documents are parsed with nlohmann::json. Called
    from bench-schema.c through one C function.
*/

#include <chrono>
#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

extern "C" double bench_valijson (const char *schema_text,
                                  const char *instance_text, int parse,
                                  double seconds, int *valid_p);

double
bench_valijson (const char *schema_text, const char *instance_text, int parse,
                double seconds, int *valid_p)
{
    using clock = std::chrono::steady_clock;
    nlohmann::json schema_doc = nlohmann::json::parse (schema_text);
    valijson::Schema schema;
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter schema_adapter (schema_doc);
    parser.populateSchema (schema_adapter, schema);
    valijson::Validator validator;
    nlohmann::json parsed = nlohmann::json::parse (instance_text);
    long count = 0;
    int valid = 1;
    auto start = clock::now ();
    auto until = start + std::chrono::duration<double> (seconds);
    while (clock::now () < until) {
        for (int i = 0; i < 64; i++, count++) {
            if (parse) {
                nlohmann::json doc = nlohmann::json::parse (instance_text);
                valijson::adapters::NlohmannJsonAdapter adapter (doc);
                valid &= validator.validate (schema, adapter, nullptr);
            }
            else {
                valijson::adapters::NlohmannJsonAdapter adapter (parsed);
                valid &= validator.validate (schema, adapter, nullptr);
            }
        }
    }
    std::chrono::duration<double> elapsed = clock::now () - start;
    *valid_p = valid;
    return count / elapsed.count ();
}
