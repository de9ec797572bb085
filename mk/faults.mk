# The fault server the fault specs run (spec/30-faults_spec.lua): a plain POSIX program,
# no Lua, no module sources. Built with the same warnings as the module.
FAULTSERVER := $(BUILD)/spec/faultserver
TEST_BINS   += $(FAULTSERVER)

$(FAULTSERVER): spec/c/faultserver.c mk/faults.mk
	@mkdir -p $(@D)
	$(CC) $(WARN) -D_POSIX_C_SOURCE=200809L -pthread $(CFLAGS) $< -o $@ $(LDFLAGS)
