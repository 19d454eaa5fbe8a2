# rollgate db migrate into a real PostgreSQL server (tests/support/pg.c), then the running
# rollout continues there against rollgate-sim; SKIPPED without PostgreSQL (CI requires it).
rg_unit_test(test_e2e_pg_migrate ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_pg_migrate.c)
add_dependencies(test_e2e_pg_migrate rollgate)
set_tests_properties(test_e2e_pg_migrate PROPERTIES LABELS "e2e" TIMEOUT 900)
