import attune


class CheckQuota(attune.Action):
    def run(self, used, quota):
        ratio = used / quota
        self.logger.info("usage at %.0f%%", ratio * 100)
        # (False, value) fails the execution with value as its result.
        return (ratio <= 1.0, {"used": used, "quota": quota, "ratio": ratio})
