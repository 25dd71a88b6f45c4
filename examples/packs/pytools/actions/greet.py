import attune


def run(who):
    attune.logger.info("greeting %s", who)
    return {"greeting": "hello, %s" % who, "execution": attune.execution_id}
